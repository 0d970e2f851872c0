"""Prop. 3 of the SHAPO paper: the SHAPO gradient of a one-action Gaussian bandit in closed form."""

import math

import pytest
import torch
from torch import Tensor
from torch.distributions import Normal, kl_divergence

from shapo_rl.optim import sharpness_aware_gradient

DELTA = 0.01


@pytest.mark.parametrize("advantage", [-1.3, 1.3])
@pytest.mark.parametrize("action_norm", [0.5, 1.0, 2.0, 3.0])
def test_shapo_gradient_matches_prop3(advantage: float, action_norm: float) -> None:
    d = 3
    direction = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    a = action_norm * direction / direction.norm()
    theta = torch.zeros(d, dtype=torch.float64, requires_grad=True)  # theta_k = mu_k = 0
    zeros = torch.zeros(d, dtype=torch.float64)
    visited: list[Tensor] = []

    def loss() -> Tensor:  # -U(theta) = -A pi_theta(a) / pi_0(a), policy N(theta, I)
        visited.append(theta.detach().clone())
        log_ratio = Normal(theta, 1.0).log_prob(a).sum() - Normal(zeros, 1.0).log_prob(a).sum()
        return -advantage * log_ratio.exp()

    def kl_fn() -> Tensor:  # KL(N(0, I) || N(theta, I)) = 1/2 ||theta||^2
        return kl_divergence(Normal(zeros, 1.0), Normal(theta, 1.0)).sum()

    g, g_shapo, info = sharpness_aware_gradient(
        loss, [theta], geometry="fisher", radius=DELTA, kl_fn=kl_fn, damping=0.0
    )

    s = math.copysign(1.0, advantage)
    root = math.sqrt(2 * DELTA)
    torch.testing.assert_close(g, -advantage * a, rtol=1e-14, atol=1e-14)
    assert info.backtracks == 0 and info.kl == pytest.approx(DELTA, rel=1e-12)
    torch.testing.assert_close(visited[1], -root * s * a / a.norm(), rtol=1e-13, atol=1e-13)
    factor = math.exp(-s * root * action_norm - DELTA) * (1 + s * root / action_norm)
    torch.testing.assert_close(g_shapo, -advantage * factor * a, rtol=1e-12, atol=1e-12)
    assert torch.equal(theta.detach(), zeros)

    ratio = float(g_shapo.dot(g) / g.dot(g))
    assert ratio == pytest.approx(factor, rel=1e-12)
    if action_norm >= 2:  # rare (large ||a||) unsafe actions weigh more, rare safe ones less
        assert (ratio > 1) if advantage < 0 else (ratio < 1)
