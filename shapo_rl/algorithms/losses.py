"""Policy surrogates and the trust-region KL, as pure functions of a policy and a batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.distributions import Independent, Normal, kl_divergence

from shapo_rl.models import GaussianPolicy
from shapo_rl.optim.gaussian_fisher import gaussian_fisher_vector_product


def importance_ratio(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor) -> Tensor:
    """r_t(theta) = pi_theta(a_t|s_t) / pi_old(a_t|s_t), from the behaviour log-probs of the rollout."""
    return torch.exp(policy.distribution(obs).log_prob(actions) - old_log_prob)


def surrogate_loss(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor,
                   advantage: Tensor) -> Tensor:
    """TRPO's surrogate as a loss: L(theta) = -mean_t[r_t(theta) A_t] (eq. 3 of the SHAPO paper)."""
    return -(importance_ratio(policy, obs, actions, old_log_prob) * advantage).mean()


def clipped_surrogate_loss(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor,
                           advantage: Tensor, clip: float) -> Tensor:
    """PPO-Clip: -mean_t[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)] (Schulman et al. 2017, eq. 7)."""
    ratio = importance_ratio(policy, obs, actions, old_log_prob)
    return -torch.min(ratio * advantage, ratio.clamp(1.0 - clip, 1.0 + clip) * advantage).mean()


def ratio_and_reverse_kl(policy: GaussianPolicy, obs: Tensor, actions: Tensor, old_log_prob: Tensor, loc: Tensor,
                         scale: Tensor) -> tuple[Tensor, Tensor]:
    """(r_t(theta), KL(pi_theta(.|s_t) || N(loc, scale))) from one forward pass. The KL is summed
    over action dimensions with the current policy first, the direction FOCOPS and CUP penalise
    (the reverse of :func:`mean_kl`'s)."""
    dist = policy.distribution(obs)
    return torch.exp(dist.log_prob(actions) - old_log_prob), kl_divergence(dist, Independent(Normal(loc, scale), 1))


def mean_kl(policy: GaussianPolicy, obs: Tensor, old_loc: Tensor, old_scale: Tensor,
            reduction: Literal["sum", "mean"] = "sum") -> Tensor:
    """Mean over states of KL(pi_old(.|s) || pi_theta(.|s)); its Hessian at theta_old is the Fisher.

    The KL of the diagonal Gaussians is summed over action dimensions (``"sum"``) or averaged
    over them (``"mean"``, i.e. divided by the action dimension)."""
    old = Independent(Normal(old_loc, old_scale), 1)
    kl = kl_divergence(old, policy.distribution(obs))
    if reduction == "mean":
        kl = kl / old_loc.shape[-1]
    return kl.mean()


@dataclass(frozen=True)
class AnchoredKL:
    """A kl_fn: :func:`mean_kl` from the anchor ``N(old_loc, old_scale)`` (the policy at the
    current parameters: pi_old in TRPO, the minibatch's start in PPO) to the policy, with its
    Fisher-vector product in closed form (:mod:`shapo_rl.optim.gaussian_fisher`), which is the
    KL's Hessian at the anchor, where every Fisher-vector product here is taken."""

    policy: GaussianPolicy
    obs: Tensor
    old_loc: Tensor
    old_scale: Tensor
    reduction: Literal["sum", "mean"] = "sum"

    def __call__(self) -> Tensor:
        return mean_kl(self.policy, self.obs, self.old_loc, self.old_scale, self.reduction)

    def fisher_product(self, params: Sequence[Tensor]) -> Callable[[Tensor], Tensor] | None:
        """``v -> F v`` without the damping and the reduction; None where the policy's mean is not
        a tanh MLP or ``params`` are not all of the policy's parameters."""
        return gaussian_fisher_vector_product(self.policy.mean, self.policy.log_std, params, self.obs,
                                              self.old_scale, self.reduction)
