"""Quantile cost critic and its CVaR (the distributional critic of DTRPO, sTRPO paper Section 4.1).

The critic maps s to N quantiles theta_1..theta_N of the cost-return distribution at the fractions
tau_i = (2i - 1) / (2N) (QR-DQN, Dabney et al. 2018), trained with the quantile Huber loss. Its
value is CVaR_alpha over the upper alpha-tail, the mean of the highest quantiles over mass alpha:
the TD residual of eq. (4), xi_t = c_t + gamma V_CVaR(s_{t+1}) - V_CVaR(s_t), then weighs rare,
severe costs instead of their average (Yang et al. 2021, WCSAC).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from shapo_rl.models.networks import mlp


def quantile_fractions(n: int) -> Tensor:
    """tau_i = (2i - 1) / (2N), i = 1..N: the midpoints each quantile output estimates."""
    return (torch.arange(n, dtype=torch.float32) + 0.5) / n


def upper_cvar(quantiles: Tensor, alpha: float) -> Tensor:
    """CVaR_alpha of the upper tail, [..., N] -> [...]: each quantile carries mass 1/N, and the
    largest ones are averaged over mass alpha (the last one taken in part when alpha N is fractional)."""
    n = quantiles.shape[-1]
    mass = alpha * n
    k = math.ceil(mass)
    top = quantiles.topk(k, dim=-1).values  # descending
    weights = torch.ones(k, dtype=quantiles.dtype, device=quantiles.device)
    weights[-1] = mass - (k - 1)
    return (top * weights).sum(-1) / mass


def quantile_huber_loss(quantiles: Tensor, target: Tensor, kappa: float = 1.0) -> Tensor:
    """Quantile Huber loss (Dabney et al. 2018, eq. 10) of quantiles [B, N] against samples [B]:
    mean over B, sum over i of |tau_i - 1{u < 0}| H_kappa(u) / kappa with u = target - theta_i."""
    u = target.unsqueeze(-1) - quantiles
    tau = quantile_fractions(quantiles.shape[-1]).to(quantiles)
    huber = torch.where(u.abs() <= kappa, 0.5 * u.square(), kappa * (u.abs() - 0.5 * kappa))
    return ((tau - (u.detach() < 0).to(u.dtype)).abs() * huber / kappa).sum(-1).mean()


class QuantileCritic(nn.Module):
    """``quantiles(s)``: N quantiles of the cost return (a tanh MLP); ``forward(s)``: V_CVaR_alpha(s)
    as ``[..., 1]``, the shape of the scalar critics' values."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int], quantiles: int, alpha: float):
        super().__init__()
        self.net = mlp(obs_dim, quantiles, hidden_sizes)
        self.alpha = alpha

    def quantiles(self, observation: Tensor) -> Tensor:
        return self.net(observation)

    def forward(self, observation: Tensor) -> Tensor:
        return upper_cvar(self.net(observation), self.alpha).unsqueeze(-1)
