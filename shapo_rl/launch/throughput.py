"""Measured training speed, for the time estimates of ``shapo-rl recipe show``.

Env steps per second of one TRPO-Lag training process (one torch thread, collection and update)
on a 2-core CPU machine shared with other load. SafetyPointGoal1-v0, SafetyCarGoal1-v0,
SafetyPointButton1-v0, SafetyHopperVelocity-v1 and Walker2d-v4: ``make bench-throughput`` with
the fast env backend (2 epochs of 20,000 steps; the README's Benchmarks table). The others, from
before the fast backend (so estimates for them err long): ``shapo-rl train --algo trpo-lag --env TASK --steps 20000
--steps-per-epoch 10000``, mean of the two epochs' ``epoch_seconds``; ToyCMDP-v0 from
200-step epochs. A SHAPO run (Fisher perturbation and critic SAM) takes ``SHAPO_FACTOR`` times
as long (the paper's Table 1: 100 against 85 minutes), and every run pays ``STARTUP_S`` to
start (imports, env build). Other algorithms are taken at TRPO-Lag's speed: collection
dominates their epochs.
"""

from __future__ import annotations

from collections.abc import Iterable

from shapo_rl.config import TrainConfig

STEPS_PER_SECOND = {
    "SafetyPointGoal1-v0": 3266, "SafetyCarGoal1-v0": 3104, "SafetyPointButton1-v0": 2155,
    "SafetyCarCircle1-v0": 994, "SafetyHopperVelocity-v1": 5520, "SafetyAntVelocity-v1": 2037,
    "Ant-v4": 2012, "Walker2d-v4": 5352, "HalfCheetah-v4": 4030, "ToyCMDP-v0": 5500,
}
SLOWEST = min(STEPS_PER_SECOND.values())  # for a task not measured
SHAPO_FACTOR = 100 / 85
STARTUP_S = 7.0


def run_seconds(config: TrainConfig) -> float:
    """Estimated wall time of one training run on one core."""
    rate = STEPS_PER_SECOND.get(config.env, SLOWEST)
    factor = SHAPO_FACTOR if config.shapo.geometry != "none" or config.shapo.critic_sam else 1.0
    return STARTUP_S + config.steps / rate * factor


def grid_seconds(configs: Iterable[TrainConfig], jobs: int) -> tuple[float, float]:
    """(CPU seconds of all runs, wall seconds with ``jobs`` runs at a time, ignoring waves)."""
    total = sum(run_seconds(config) for config in configs)
    return total, total / max(1, jobs)
