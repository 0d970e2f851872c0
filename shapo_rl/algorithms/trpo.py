"""TRPO with the cost as a penalty: ``trpo`` (none), ``trpo-lag`` (Lagrange multiplier by gradient
ascent on Jc - d; Ray et al. 2019) and ``trpo-pid`` (PID Lagrangian; Stooke et al. 2020).

The actor takes one natural-gradient step (Schulman et al. 2015) on the surrogate of the
combined advantage; with SHAPO its gradient is taken at the pessimistic neighbour (Algorithm 3
of the SHAPO paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from shapo_rl.algorithms.actor_steps import trust_region_optimizer, trust_region_step
from shapo_rl.algorithms.penalized import PenalizedAlgorithm
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.config import PenaltyConfig, TrustRegionConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


@dataclass(frozen=True)
class TRPOConfig(PenaltyConfig):
    """The trust region (delta 0.01, CG 15, damping 0.1, 15 x 0.8 backtracks) and the penalty."""

    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)


class PenalizedTRPO(PenalizedAlgorithm):
    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [trust_region_optimizer(policy, self.config.trust_region, reduce)]

    def actor_step(self, context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
        return trust_region_step(context, batch, advantage)
