"""FOCOPS: First Order Constrained Optimization in Policy Space (Zhang, Vuong & Ross 2020).

Per epoch the multiplier nu adapts to Jc - d (the penalty of the config: Lagrange gradient ascent,
Adam lr 0.035 from 0.001 as the reference library, projected onto [0, nu_max] with nu_max 2.0 as
the paper and the reference), then minibatch epochs of Adam (minibatch 64, lr 3e-4, up to 40
epochs, stopped once the mean KL(pi_old || pi_theta) exceeds 0.02: the reference library's) minimise
the loss of :func:`focops_loss`, with temperature lam 1.5 and per-state KL bound eta 0.02 (the
paper's values and the reference's). With SHAPO each minibatch gradient is taken
at its pessimistic neighbour (Algorithm 4 of the SHAPO paper).

Departure from the reference library, following the paper: the advantage is
A_hat = A_r - nu A_c (the paper's, A_r z-scored and A_c centred as its authors' code); the
reference divides it by (1 + nu). The paper updates nu by plain gradient steps (lr 0.01 from 0);
``--set lagrange.optimizer=sgd lagrange.lr=0.01 lagrange.init=0`` gives those. The reference's
loss adds a [B, 1] KL to a [B] ratio term, which broadcasts to [B, B] and so weighs every
sample's advantage term by the fraction of states within eta; here the indicator is per sample,
as the paper. The reference also steps the critics between actor minibatches; here they regress
after the actor, as in every algorithm of this library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from shapo_rl.algorithms.actor_steps import minibatch_epochs
from shapo_rl.algorithms.losses import ratio_and_reverse_kl
from shapo_rl.algorithms.penalized import PenalizedAlgorithm
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.config import LagrangeConfig, MinibatchConfig, PenaltyConfig, require
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce


def focops_loss(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor, old_loc: Tensor,
                old_scale: Tensor, advantage: Tensor, *, lam: float, eta: float) -> Tensor:
    """mean_i[(KL(pi_theta || pi_old)[s_i] - r_i(theta) A_hat_i / lam) 1{KL(pi_theta || pi_old)[s_i] <= eta}]:
    the FOCOPS loss (Zhang et al. 2020, Section 5, Algorithm 1), whose gradient is the paper's
    per-sample estimate; the KL is the current policy's from pi_old (the paper's direction) and the
    indicator is not differentiated."""
    ratio, kl = ratio_and_reverse_kl(policy, obs, actions, old_log_prob, old_loc, old_scale)
    return ((kl - ratio * advantage / lam) * (kl.detach() <= eta)).mean()


@dataclass(frozen=True)
class FOCOPSConfig(PenaltyConfig):
    """Temperature ``lam``, per-state KL bound ``eta``, the minibatch epochs and the multiplier
    (Lagrange, upper bound 2.0)."""

    lagrange: LagrangeConfig = field(default_factory=lambda: LagrangeConfig(upper=2.0))
    lam: float = 1.5
    eta: float = 0.02
    minibatch: MinibatchConfig = field(default_factory=MinibatchConfig)

    def __post_init__(self):
        super().__post_init__()
        require(0 < self.lam < float("inf"), f"FOCOPS lam must be > 0 and finite, got {self.lam}")
        require(0 < self.eta < float("inf"), f"FOCOPS eta must be > 0 and finite, got {self.eta}")


class FOCOPS(PenalizedAlgorithm):
    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        return [torch.optim.Adam(policy.parameters(), lr=self.config.minibatch.lr)]

    def advantage(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        """A_hat = A_r - nu A_c (the paper's; not divided by 1 + nu as the reference library)."""
        return adv_r - self.penalty.multiplier * adv_c

    def actor_step(self, context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
        cfg = self.config

        def loss(index: Tensor) -> Callable[[], Tensor]:
            return partial(focops_loss, context.policy, batch.obs[index], batch.actions[index],
                           batch.old_log_prob[index], batch.old_loc[index], batch.old_scale[index], advantage[index],
                           lam=cfg.lam, eta=cfg.eta)

        return minibatch_epochs(context, batch, loss, cfg.minibatch, kl_from=(batch.old_loc, batch.old_scale))
