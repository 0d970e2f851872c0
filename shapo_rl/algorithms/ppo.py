"""PPO-Clip with the cost as a penalty: ``ppo`` (none), ``ppo-lag`` (Lagrange multiplier by
gradient ascent on Jc - d; Ray et al. 2019) and ``cppo-pid`` (PID Lagrangian; Stooke et al. 2020).

Clipped-surrogate minibatch epochs (Schulman et al. 2017) on (A_r - lambda A_c) / (1 + lambda),
A_r z-scored and A_c centred; with SHAPO each minibatch gradient is taken at the pessimistic
neighbour (Algorithm 4 of the SHAPO paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from shapo_rl.algorithms.actor_steps import clipped_epochs
from shapo_rl.algorithms.protocol import Algorithm, UpdateBatch, UpdateContext
from shapo_rl.config import ClipConfig, PenaltyConfig
from shapo_rl.constraints import make_penalty
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


@dataclass(frozen=True)
class PPOConfig(PenaltyConfig):
    """The clipped surrogate (clip 0.2, 40 epochs of minibatch 64, lr 3e-4, target KL 0.02) and
    the penalty."""

    clip: ClipConfig = field(default_factory=ClipConfig)


class PenalizedPPO(Algorithm):
    def __init__(self, config: PPOConfig, *, cost_limit: float) -> None:
        super().__init__(config, cost_limit=cost_limit)
        self.penalty = make_penalty(config, cost_limit)

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [torch.optim.Adam(policy.parameters(), lr=self.config.clip.lr)]

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.penalty.update(batch.episode_cost)
        advantage = self.penalty.combine(*context.standardized(batch))
        return {**clipped_epochs(context, batch, advantage, self.config.clip), **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return self.penalty.multiplier
