"""Env steps/s of the locomotion slices: physics alone, the stock slice, the fast slice by threads.

For each task, in one process, with uniform random actions in the action box:

* physics -- ``mujoco.mj_step(model, data, nstep=frame_skip)`` alone on one env's model and
             data, one core, timed call by call over the states of random-action episodes
             (resets and the untimed health check between them): the ceiling of one env;
* stock   -- :class:`StockSlice` of ``--envs`` envs (each env's own ``step``);
* fast/N  -- :class:`LocomotionSlice` of ``--envs`` envs, physics in N threads;
* fast/1 env -- :class:`LocomotionSlice` of one env (the per-env ratio to physics alone).

Steps/s count env steps of ``step`` calls only (finished episodes are reset between timed calls,
by the env's own code in both backends). This machine's speed drifts, so the configurations are
measured in interleaved rounds and each one's median is printed, with its ratio to physics.

    python benchmarks/locomotion_step.py --tasks SafetyHopperVelocity-v1 Walker2d-v4 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import mujoco
import numpy as np

from shapo_rl.envs.batched.locomotion import LocomotionSlice
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.registry import get_task

TASKS = ("SafetyHopperVelocity-v1", "Walker2d-v4", "Hopper-v4", "Ant-v4")


def physics_rate(env_slice, steps: int, seed: int = 0) -> float:
    """Env steps/s of ``mj_step(model, data, nstep=frame_skip)`` alone on the slice's first env,
    timed on its own, over the states random actions visit (episodes reset as in a rollout)."""
    env = env_slice.envs[0]
    task, limit = env.unwrapped, env_slice.envs[0].spec.max_episode_steps
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    elapsed, length = 0.0, 0
    for _ in range(steps):
        task.data.ctrl[:] = rng.uniform(env.action_space.low, env.action_space.high)
        start = time.perf_counter()
        mujoco.mj_step(task.model, task.data, nstep=task.frame_skip)
        elapsed += time.perf_counter() - start
        length += 1
        if getattr(task, "terminated", False) or length >= limit:
            env.reset()
            length = 0
    return steps / elapsed


def slice_rate(env_slice, steps: int, seed: int = 0) -> float:
    """Env steps/s of ``env_slice.step`` with random actions, resetting finished envs untimed."""
    count = len(env_slice.envs)
    space = env_slice.envs[0].action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high, (max(1, steps // count), count, *space.shape))
    env_slice.reset([(j, seed + j) for j in range(count)])
    elapsed = 0.0
    for batch in actions:
        start = time.perf_counter()
        _, _, _, terminated, truncated = env_slice.step(batch)
        elapsed += time.perf_counter() - start
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            env_slice.reset([(int(j), None) for j in done])
    return len(actions) * count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--envs", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=4000, help="env steps per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    for task in args.tasks:
        spec = get_task(task)
        limit = spec.max_episode_steps
        stock = StockSlice(spec, limit, args.envs)
        configs = {"physics": (lambda s=stock: physics_rate(s, args.steps)),
                   "stock": (lambda s=stock: slice_rate(s, args.steps))}
        fast = {n: LocomotionSlice(spec, limit, args.envs, threads=n) for n in args.threads}
        for n, env_slice in fast.items():
            configs[f"fast/{n}"] = lambda s=env_slice: slice_rate(s, args.steps)
        single = LocomotionSlice(spec, limit, 1, threads=1)
        configs["fast/1 env"] = lambda s=single: slice_rate(s, args.steps // 4)
        rates: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(args.rounds):
            for name, measure in configs.items():
                rates[name].append(measure())
        physics = statistics.median(rates["physics"])
        cells = [f"{name} {statistics.median(r):,.0f} ({statistics.median(r) / physics:.2f}x)" for name, r in rates.items()]
        print(f"{task}: " + " | ".join(cells), flush=True)
        for env_slice in (stock, single, *fast.values()):
            env_slice.close()


if __name__ == "__main__":
    main()
