"""Lagrange multiplier by gradient ascent on the constraint violation (TRPO-Lag / PPO-Lag).

Lagrangian (eq. 2 of the SHAPO paper): max_theta min_{lambda >= 0} J_r(theta) - lambda (J_c(theta) - d).
The multiplier follows projected gradient ascent on (Jc - d): Adam (or SGD) on the loss
-lambda (Jc - d), then lambda <- max(lambda, 0) (OmniSafe's defaults: Adam, init 0.001, lr 0.035), or
lambda <- min(max(lambda, 0), upper) with an upper bound (OmniSafe's CUP and FOCOPS: 2.0). The actor ascends the
normalised combination (A_r - lambda A_c) / (1 + lambda) (ALGORITHMS.md-style Algorithm 3).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from shapo_rl.constraints.base import ConstraintHandler


class LagrangeMultiplier(ConstraintHandler):
    def __init__(self, cost_limit: float, init: float = 0.001, lr: float = 0.035, optimizer: str = "adam",
                 upper: float | None = None):
        super().__init__()
        if cost_limit < 0:
            raise ValueError(f"cost limit must be >= 0, got {cost_limit}")
        if init < 0:
            raise ValueError(f"initial Lagrange multiplier must be >= 0, got {init}")
        if upper is not None and not init <= upper:
            raise ValueError(f"Lagrange upper bound must be >= init ({init}), got {upper}")
        self.upper = upper
        self.cost_limit = float(cost_limit)
        self.value = nn.Parameter(torch.tensor(float(init)), requires_grad=True)
        optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
        if optimizer not in optimizers:
            raise ValueError(f"Lagrange optimizer must be one of {sorted(optimizers)}, got {optimizer!r}")
        self.optimizer = optimizers[optimizer]([self.value], lr=lr)

    def update(self, episode_cost: float) -> None:
        self.optimizer.zero_grad()
        loss = -self.value * (float(episode_cost) - self.cost_limit)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.value.clamp_(min=0.0, max=self.upper)

    def combine(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        lam = self.value.detach()
        return (adv_r - lam * adv_c) / (1.0 + lam)

    @property
    def multiplier(self) -> float:
        return float(self.value.detach())

    # The multiplier's Adam moments are part of its state: a resumed run must continue exactly.
    def get_extra_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])

    def extra_repr(self) -> str:
        return f"cost_limit={self.cost_limit}, upper={self.upper}"
