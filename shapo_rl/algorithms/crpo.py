"""CRPO: Constraint-Rectified Policy Optimization (Xu et al. 2021, Algorithm 1).

Each epoch is either a reward step or a cost step: when the episode cost Jc exceeds the limit d
by more than the tolerance eta, the actor minimises the cost surrogate (it ascends -A_c),
otherwise it maximises the reward surrogate (A_r); a TRPO step either way (the paper's
experiments use TRPO; the reference library, OmniSafe 0.5.0's OnCRPO, PPO's clipped epochs).
eta defaults to 2.0, the reference's ``distance``. With SHAPO the chosen objective is perturbed.
The choice is logged as the ``crpo_cost_step`` column (1: cost step, 0: reward step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from shapo_rl.algorithms.actor_steps import trust_region_optimizer, trust_region_step
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import TrustRegionConfig, require
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


@dataclass(frozen=True)
class CRPOConfig:
    """The trust region (TRPO's defaults) and the tolerance eta of the constraint check."""

    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)
    tolerance: float = 2.0

    def __post_init__(self):
        require(0 <= self.tolerance < math.inf, f"CRPO tolerance must be >= 0 and finite, got {self.tolerance}")


def takes_cost_step(episode_cost: float, cost_limit: float, tolerance: float) -> bool:
    """CRPO's switch: the cost objective exactly when Jc > d + eta."""
    return episode_cost > cost_limit + tolerance


class CRPO(Algorithm):
    def __init__(self, config: CRPOConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        # Jc of the last epoch that finished an episode (0 before any did).
        self.register_buffer("episode_cost", torch.zeros((), dtype=torch.float64))

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [trust_region_optimizer(policy, self.config.trust_region, reduce)]

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.episode_cost.fill_(batch.episode_cost)
        cost_step = takes_cost_step(float(self.episode_cost), self.cost_limit, self.config.tolerance)
        adv_r, adv_c = context.standardized(batch)
        metrics = trust_region_step(context, batch, -adv_c if cost_step else adv_r)
        return {**metrics, "crpo_cost_step": float(cost_step), **context.update_critics(batch)}
