"""PPO-Clip with the cost as a penalty: ``ppo`` (none), ``ppo-lag`` (Lagrange multiplier by
gradient ascent on Jc - d; Ray et al. 2019) and ``cppo-pid`` (PID Lagrangian; Stooke et al. 2020).

Clipped-surrogate minibatch epochs (Schulman et al. 2017) on the combined advantage; with SHAPO
each minibatch gradient is taken at the pessimistic neighbour (Algorithm 4 of the SHAPO paper).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from shapo_rl.algorithms.actor_steps import clipped_epochs
from shapo_rl.algorithms.penalized import PenalizedAlgorithm
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.config import ClipConfig, PenaltyConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


@dataclass(frozen=True)
class PPOConfig(PenaltyConfig):
    """The clipped surrogate (clip 0.2, 40 epochs of minibatch 64, lr 3e-4, target KL 0.02) and
    the penalty."""

    clip: ClipConfig = field(default_factory=ClipConfig)


class PenalizedPPO(PenalizedAlgorithm):
    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [torch.optim.Adam(policy.parameters(), lr=self.config.clip.lr)]

    def actor_step(self, context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
        return clipped_epochs(context, batch, advantage, self.config.clip)
