"""CUP: Constrained Update Projection (Yang et al. 2022, "Constrained Update Projection Approach
to Safe Policy Optimization").

Per epoch, as the paper's practical algorithm and the reference library:
0. the multiplier lambda adapts to Jc - d (the config's penalty: Lagrange gradient ascent, Adam
   lr 0.035 from 0.001, projected onto [0, 2.0]: the reference library's CUP settings);
1. policy improvement: PPO-Clip epochs on the z-scored reward advantage alone (clip 0.2, up to 40
   epochs of minibatch 64, Adam lr 3e-4, stopped at KL 0.01), giving pi_{k+1/2};
2. projection: minibatch epochs of the same sizes and the same Adam minimising
   :func:`cup_projection_loss` with pi_{k+1/2} frozen, stopped once the mean
   KL(pi_{k+1/2} || pi_theta) exceeds 0.01.
With SHAPO each minibatch gradient of either stage is taken at its pessimistic neighbour
(Algorithm 4 of the SHAPO paper). ``kl`` is the epoch's KL(pi_k || pi_{k+1}) over both stages.

The coefficient (1 - gamma lambda_GAE)/(1 - gamma) uses the cost advantage's discount (the run's
cost_gamma) and GAE lambda; the reference library uses its reward gamma, equal by default. Both
stages step one Adam, as the reference (the paper does not say): its second moments then carry
the cost term's scale, lambda (1 - gamma lambda_GAE)/(1 - gamma) |A_c|, into the reward stage's
step sizes. (Measured on ToyCMDP: with one Adam per stage each stage's steps are normalised
apart, the multiplier loses its hold on the balance and saturates at 2 while the cost climbs to
twice the limit.) With lambda = 0 the projection is the identity (the paper's) and is skipped;
the reference still steps its Adam there on gradients of about 0, i.e. on stage 1's momentum,
and with SHAPO such a gradient (not exactly 0 in float32) has no usable Fisher curvature. The KL
targets are the reference's CUP config's: one target_kl, 0.01, for both stages (the PPO family's
is 0.02).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from shapo_rl.algorithms.actor_steps import clipped_epochs, minibatch_epochs
from shapo_rl.algorithms.losses import mean_kl, ratio_and_reverse_kl
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import ClipConfig, ConfigError, LagrangeConfig, PenaltyConfig, require
from shapo_rl.constraints import make_penalty
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


def cup_projection_loss(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor,
                        cost_advantage: Tensor, half_loc: Tensor, half_scale: Tensor, weight: float) -> Tensor:
    """mean_t[w r_t(theta) A_c,t + KL(pi_theta || pi_{k+1/2})[s_t]] with w = lambda (1 - gamma lambda_GAE)/(1 - gamma):
    CUP's projection step (Yang et al. 2022, Section 5, Algorithm 1), r_t against the behaviour
    policy pi_k; the KL puts the current policy first, as the paper and the reference library."""
    ratio, kl = ratio_and_reverse_kl(policy, obs, actions, old_log_prob, half_loc, half_scale)
    return (weight * ratio * cost_advantage + kl).mean()


@dataclass(frozen=True)
class CUPConfig(PenaltyConfig):
    """The multiplier (Lagrange, upper bound 2.0), the clipped epochs of the reward stage (whose
    iterations, minibatch size, lr and gradient clip the projection shares) and the projection's
    target KL."""

    lagrange: LagrangeConfig = field(default_factory=lambda: LagrangeConfig(upper=2.0))
    clip: ClipConfig = field(default_factory=lambda: ClipConfig(target_kl=0.01))
    projection_target_kl: float = 0.01

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.projection_target_kl < float("inf"),
                f"projection_target_kl must be > 0 and finite, got {self.projection_target_kl}")


class CUP(Algorithm):
    def __init__(self, config: CUPConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        if discounts.cost_gamma >= 1:
            raise ConfigError("cup weighs the cost by (1 - gamma lambda)/(1 - gamma): it needs cost_gamma < 1")
        self.penalty = make_penalty(config, cost_limit)

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [torch.optim.Adam(policy.parameters(), lr=self.config.clip.lr)]

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.penalty.update(batch.episode_cost)
        adv_r, adv_c = context.standardized(batch)
        policy = context.policy
        improvement = clipped_epochs(context, batch, adv_r, self.config.clip)
        with torch.no_grad():
            half_loc, half_scale = policy(batch.obs)
        gamma, lam = self.discounts.cost_gamma, self.discounts.gae_lambda
        weight = self.penalty.multiplier * (1 - gamma * lam) / (1 - gamma)

        def loss(index: Tensor) -> Callable[[], Tensor]:
            return partial(cup_projection_loss, policy, batch.obs[index], batch.actions[index],
                           batch.old_log_prob[index], adv_c[index], half_loc[index], half_scale[index], weight)

        if weight > 0:
            stage2 = dataclasses.replace(self.config.clip, target_kl=self.config.projection_target_kl)
            projection = minibatch_epochs(context, batch, loss, stage2, kl_from=(half_loc, half_scale),
                                          stage="projection")
        else:  # lambda = 0: the loss is KL(pi || pi_half) alone, minimal where it starts
            projection = {"projection_loss": 0.0, "projection_kl": 0.0, "projection_iterations": 0.0}
        with torch.no_grad():
            kl = float(context.reduce(mean_kl(policy, batch.obs, batch.old_loc, batch.old_scale)))
        return {**improvement, **projection, "kl": kl, "cup_weight": weight, **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return self.penalty.multiplier
