"""The algorithm registry: the single source of truth for CLI choices, `list algos` and tests.

An algorithm is a composition of an actor update (trust region or clipped surrogate) and a
constraint handler; SHAPO and critic SAM are switches on every one of them (``ShapoConfig``),
never copies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shapo_rl.config import TrainConfig
from shapo_rl.lookup import lookup
from shapo_rl.constraints import ConstraintHandler, LagrangeMultiplier, Unconstrained


class UnknownAlgorithmError(ValueError):
    """An algorithm name that is not registered; the message suggests the nearest names."""


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    actor_update: Literal["trust-region", "clipped"]
    constraint: Literal["none", "lagrange"]
    description: str

    def make_constraint(self, config: TrainConfig, cost_limit: float) -> ConstraintHandler:
        if self.constraint == "lagrange":
            return LagrangeMultiplier(cost_limit, init=config.lagrange.init, lr=config.lagrange.lr,
                                      optimizer=config.lagrange.optimizer)
        return Unconstrained()


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("trpo", "trust-region", "none", "TRPO (Schulman et al. 2015), cost ignored"),
        AlgorithmSpec("trpo-lag", "trust-region", "lagrange",
                      "TRPO on (A_r - lambda A_c)/(1 + lambda), lambda by gradient ascent on Jc - d"),
        AlgorithmSpec("ppo", "clipped", "none", "PPO-Clip (Schulman et al. 2017), cost ignored"),
        AlgorithmSpec("ppo-lag", "clipped", "lagrange",
                      "PPO-Clip on (A_r - lambda A_c)/(1 + lambda), lambda by gradient ascent on Jc - d"),
    )
}


def get_algorithm(name: str) -> AlgorithmSpec:
    return lookup(ALGORITHMS, name, kind="algorithm", error=UnknownAlgorithmError)
