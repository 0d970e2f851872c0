"""The Lagrangian family's epoch: the penalty adapts to Jc, the actor ascends the combined
advantage (A_r - lambda A_c) / (1 + lambda) (A_r z-scored, A_c centred), the critics regress.

Subclasses choose the actor step (trust region, clipped surrogate, FOCOPS's loss) and its
optimiser, and may weigh the advantages otherwise (FOCOPS); the penalty (none, Lagrange, PID)
comes from the config (:class:`~shapo_rl.config.PenaltyConfig`), unless a subclass fixes it in
:meth:`PenalizedAlgorithm.make_penalty` (Saute: none).
"""

from __future__ import annotations

from torch import Tensor

from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import PenaltyConfig
from shapo_rl.constraints import ConstraintHandler, make_penalty


class PenalizedAlgorithm(Algorithm):
    def __init__(self, config: PenaltyConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        self.penalty = self.make_penalty(config, cost_limit)

    def make_penalty(self, config: PenaltyConfig, cost_limit: float) -> ConstraintHandler:
        """The penalty of ``config.multiplier`` (none, Lagrange, PID)."""
        return make_penalty(config, cost_limit)

    def actor_step(self, context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
        raise NotImplementedError

    def advantage(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        """The advantage the actor ascends: the penalty's combination of z-scored A_r and centred A_c."""
        return self.penalty.combine(adv_r, adv_c)

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.penalty.update(batch.episode_cost)
        advantage = self.advantage(*context.standardized(batch))
        return {**self.actor_step(context, batch, advantage), **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return self.penalty.multiplier
