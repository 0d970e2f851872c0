"""The constraint-handler protocol and the unconstrained handler."""

from __future__ import annotations

from torch import Tensor, nn


class ConstraintHandler(nn.Module):
    """Turns reward and cost advantages into the actor's advantage; adapts from episode costs.

    Subclasses keep their state (multipliers, optimiser moments) in parameters, buffers or a
    ``state_dict`` so that checkpoints restore it exactly.
    """

    def update(self, episode_cost: float) -> None:
        """Adapt to the epoch's mean episode cost Jc."""

    def combine(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def multiplier(self) -> float:
        """The current penalty weight on cost (0 when the cost is ignored)."""
        return 0.0


class Unconstrained(ConstraintHandler):
    """Plain TRPO/PPO: the actor ascends the reward advantage alone."""

    def combine(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        return adv_r

    def extra_repr(self) -> str:
        return "cost ignored"


