"""Constraint handlers: how the cost enters the actor's objective.

Each handler is a small module with ``update(episode_cost)`` (called once per epoch with the mean
episode cost Jc of the rollout) and ``combine(adv_r, adv_c)`` (the advantage the actor ascends).
"""

from shapo_rl.constraints.base import ConstraintHandler, Unconstrained
from shapo_rl.constraints.lagrange import LagrangeMultiplier
from shapo_rl.constraints.penalty import make_penalty
from shapo_rl.constraints.pid import PIDLagrangian

__all__ = ["ConstraintHandler", "LagrangeMultiplier", "PIDLagrangian", "Unconstrained", "make_penalty"]
