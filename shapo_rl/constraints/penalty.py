"""The penalty of a Lagrangian algorithm, chosen by its config: none, gradient-ascent Lagrange or PID."""

from __future__ import annotations

import dataclasses

from shapo_rl.config import PenaltyConfig
from shapo_rl.constraints.base import ConstraintHandler, Unconstrained
from shapo_rl.constraints.lagrange import LagrangeMultiplier
from shapo_rl.constraints.pid import PIDLagrangian


def make_penalty(config: PenaltyConfig, cost_limit: float) -> ConstraintHandler:
    """The constraint handler of ``config.multiplier`` for the cost limit d."""
    if config.multiplier == "lagrange":
        lagrange = config.lagrange
        return LagrangeMultiplier(cost_limit, init=lagrange.init, lr=lagrange.lr, optimizer=lagrange.optimizer,
                                  upper=lagrange.upper)
    if config.multiplier == "pid":
        return PIDLagrangian(cost_limit, **dataclasses.asdict(config.pid))
    return Unconstrained()
