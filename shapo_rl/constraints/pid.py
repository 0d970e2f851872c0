"""PID Lagrange multiplier (Stooke, Achiam & Abbeel 2020, "Responsive Safety in RL by PID
Lagrangian Methods", Algorithm 2), with the reference implementation's filters and clamps.

Per update with the epoch's mean episode cost Jc and the cost limit d (error e = Jc - d):

    I       <- max(0, I + K_I e)                        (integral; I_0 = init)
    Delta_p <- a_p Delta_p + (1 - a_p) e                 (EMA of the error, Delta_p_0 = 0)
    J_D     <- a_d J_D + (1 - a_d) Jc                    (EMA of the cost, J_D_0 = 0)
    D       <- max(0, J_D - J_D[k - delay])              (J_D[j] = 0 for j <= 0)
    lambda  <- max(0, K_P Delta_p + I + K_D D)

At update k (counted from 1) the delayed value is read *before* the new J_D is stored: a window
of the last ``delay`` values starts as [0] and J_D[k - delay] is its oldest entry, so for
k <= delay the derivative is J_D itself, and with delay = 1 it is the one-step difference.

``diff_norm`` and ``sum_norm`` choose how lambda mixes the advantages (the authors' released
code, rlpyt's CPPO-PID): diff_norm clamps I and lambda to [0, 1] and the actor ascends
(1 - lambda) A_r - lambda A_c; otherwise sum_norm gives (A_r - lambda A_c) / (1 + lambda); with
neither, lambda is capped at ``penalty_max`` and the actor ascends A_r - lambda A_c. sum_norm
does not transform lambda itself, and penalty_max only binds when both flags are off. OmniSafe
keeps these clamps but always combines as (A_r - lambda A_c) / (1 + lambda); at the defaults
(sum_norm on, diff_norm off) the two agree.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor

from shapo_rl.constraints.base import ConstraintHandler


class PIDLagrangian(ConstraintHandler):
    """lambda from a PID controller on Jc - d; defaults are the reference's CPPOPID/TRPOPID ones.

    Before the first update the multiplier is ``init``, which is also I_0. (The reference starts
    its penalty at 0 but updates it before the first policy update, so that value is never used.)
    """

    def __init__(
        self,
        cost_limit: float,
        *,
        kp: float = 0.1,
        ki: float = 0.01,
        kd: float = 0.01,
        derivative_delay: int = 10,
        p_ema: float = 0.95,
        d_ema: float = 0.95,
        sum_norm: bool = True,
        diff_norm: bool = False,
        penalty_max: float = 100.0,
        init: float = 0.001,
    ) -> None:
        super().__init__()
        if cost_limit < 0:
            raise ValueError(f"cost limit must be >= 0, got {cost_limit}")
        for name, gain in (("kp", kp), ("ki", ki), ("kd", kd)):
            if gain < 0:
                raise ValueError(f"PID gain {name} must be >= 0, got {gain}")
        if derivative_delay < 1:
            raise ValueError(f"derivative_delay must be >= 1, got {derivative_delay}")
        for name, alpha in (("p_ema", p_ema), ("d_ema", d_ema)):
            if not 0 <= alpha < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {alpha}")
        if penalty_max <= 0:
            raise ValueError(f"penalty_max must be positive, got {penalty_max}")
        if init < 0:
            raise ValueError(f"initial PID Lagrange multiplier must be >= 0, got {init}")
        self.cost_limit = float(cost_limit)
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.derivative_delay = int(derivative_delay)
        self.p_ema, self.d_ema = float(p_ema), float(d_ema)
        self.sum_norm, self.diff_norm = bool(sum_norm), bool(diff_norm)
        self.penalty_max = float(penalty_max)
        # float64 buffers hold the controller state as exactly as the Python floats it is computed in.
        for name, value in (("integral", init), ("delta_p", 0.0), ("cost_d", 0.0), ("penalty", init)):
            self.register_buffer(name, torch.tensor(float(value), dtype=torch.float64))
        self.cost_ds: deque[float] = deque([0.0], maxlen=self.derivative_delay)

    def update(self, episode_cost: float) -> None:
        """One PID step on e = Jc - d (Algorithm 2 of Stooke et al. 2020; module docstring)."""
        cost = float(episode_cost)
        error = cost - self.cost_limit
        integral = max(0.0, float(self.integral) + self.ki * error)
        if self.diff_norm:
            integral = min(1.0, integral)
        delta_p = self.p_ema * float(self.delta_p) + (1 - self.p_ema) * error
        cost_d = self.d_ema * float(self.cost_d) + (1 - self.d_ema) * cost
        derivative = max(0.0, cost_d - self.cost_ds[0])
        penalty = max(0.0, self.kp * delta_p + integral + self.kd * derivative)
        if self.diff_norm:
            penalty = min(1.0, penalty)
        elif not self.sum_norm:
            penalty = min(self.penalty_max, penalty)
        self.cost_ds.append(cost_d)
        self.integral.fill_(integral)
        self.delta_p.fill_(delta_p)
        self.cost_d.fill_(cost_d)
        self.penalty.fill_(penalty)

    def combine(self, adv_r: Tensor, adv_c: Tensor) -> Tensor:
        lam = self.multiplier
        if self.diff_norm:
            return (1.0 - lam) * adv_r - lam * adv_c
        if self.sum_norm:
            return (adv_r - lam * adv_c) / (1.0 + lam)
        return adv_r - lam * adv_c

    @property
    def multiplier(self) -> float:
        return float(self.penalty)

    # The derivative's window of past J_D values is state too: a resumed run must continue exactly.
    def get_extra_state(self) -> dict:
        return {"cost_ds": list(self.cost_ds)}

    def set_extra_state(self, state: dict) -> None:
        cost_ds = [float(v) for v in state["cost_ds"]]
        if not 1 <= len(cost_ds) <= self.derivative_delay:
            raise ValueError(f"saved derivative window of {len(cost_ds)} values, delay {self.derivative_delay}")
        self.cost_ds = deque(cost_ds, maxlen=self.derivative_delay)

    def extra_repr(self) -> str:
        return (
            f"cost_limit={self.cost_limit}, kp={self.kp}, ki={self.ki}, kd={self.kd}, "
            f"derivative_delay={self.derivative_delay}, sum_norm={self.sum_norm}, diff_norm={self.diff_norm}"
        )
