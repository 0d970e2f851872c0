"""Diagonal Gaussian policy with a state-independent log standard deviation.

pi_theta(a|s) = N(mu_theta(s), diag(exp(2 log_std))): the policy family of TRPO/CPO and of the
SHAPO and sTRPO papers. The sampled (unclipped) action is what the log-probability refers to; the
env stack clips it to the action bounds before the simulator sees it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tensordict.nn import TensorDictModule
from torch import Tensor, nn
from torch.distributions import Independent, Normal
from torchrl.modules import IndependentNormal, ProbabilisticActor

from shapo_rl import keys
from shapo_rl.models.networks import mlp


class GaussianPolicy(nn.Module):
    """``s -> (mu(s), sigma)``, with sigma = exp(log_std) shared across states."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int], init_log_std: float = 0.0,
                 init: str = "torch"):
        """``init``: ``"orthogonal"`` with the output layer scaled by 0.01 (initial means about 0,
        as in PPO's reference implementations), or ``"torch"``: PyTorch's default layer init."""
        super().__init__()
        self.mean = mlp(obs_dim, act_dim, hidden_sizes, orthogonal=init == "orthogonal")
        if init == "orthogonal":
            with torch.no_grad():
                self.mean[-1].weight.mul_(0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def forward(self, observation: Tensor) -> tuple[Tensor, Tensor]:
        loc = self.mean(observation)
        return loc, self.log_std.exp().expand_as(loc)

    def distribution(self, observation: Tensor) -> Independent:
        """pi(.|s) without argument validation (sigma > 0 by construction; validation is a
        measurable share of a collection step)."""
        loc, scale = self(observation)
        return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)

    def sample(self, observation: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(a, log pi(a|s), mu, sigma)`` with ``a = mu + sigma eps``, ``eps ~ N(0, I)``: the
        operations (and random numbers) of ``distribution(s).rsample()`` and ``.log_prob(a)``,
        ``log N(a; mu, sigma) = sum_i -(a_i - mu_i)^2 / (2 sigma_i^2) - log sigma_i - log sqrt(2 pi)``,
        without building the distribution objects (a measurable share of a collection step)."""
        loc, scale = self(observation)
        action = loc + torch.empty_like(loc).normal_() * scale
        log_prob = -((action - loc) ** 2) / (2 * scale**2) - scale.log() - math.log(math.sqrt(2 * math.pi))
        return action, log_prob.sum(-1), loc, scale


def make_collection_policy(policy: GaussianPolicy) -> ProbabilisticActor:
    """The TorchRL actor of evaluation episodes: writes action, its log-prob, loc and scale.

    In random exploration mode it samples exactly as the training's rollout collector does (the
    collector's tests compare the two).
    """
    module = TensorDictModule(policy, in_keys=[keys.OBSERVATION], out_keys=[keys.LOC, keys.SCALE])
    return ProbabilisticActor(
        module,
        in_keys=[keys.LOC, keys.SCALE],
        out_keys=[keys.ACTION],
        distribution_class=IndependentNormal,
        return_log_prob=True,
        log_prob_key=keys.ACTION_LOG_PROB,
    )
