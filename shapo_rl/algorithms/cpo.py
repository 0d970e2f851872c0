"""CPO: Constrained Policy Optimization (Achiam et al. 2017).

Per epoch, with c = Jc - d (Jc the undiscounted mean episode cost), the reward surrogate's
gradient g and the cost surrogate's gradient b: solve max_s g^T s s.t. c + b^T s <= 0 and
1/2 s^T F s <= delta through CPO's dual (cases 0-4, the shared constrained natural step), then
backtrack (0.8^k, up to 20 tries) accepting a step only when the mean KL is within delta, the
cost surrogate grows by at most max(-c, 0), and, in the feasible cases (> 1), the reward
surrogate does not get worse; if none qualifies, no step. Defaults as the reference library
(delta 0.01, CG 15, damping 0.1). With SHAPO, g and b are each taken at their own pessimistic
neighbour (g towards lower reward, b towards higher cost), the dual and the line search at
theta (Section 3 of the SHAPO paper's method). The ``lagrange_multiplier`` column is the dual
variable nu of the cost constraint.

Departure from the reference library, following the paper: its dual formulas (Achiam et al.,
Appendix 10.2) are written for the loss gradient, and the reference plugs the reward (ascent)
gradient's r = g^T F^-1 b into them, which in cases 1-2 with r != 0 no longer solves the QP
(steps off by up to 0.1 against a generic QP solver on small instances). Here the signs are those
of the ascent gradient (see :mod:`shapo_rl.optim.cpo_dual`), tested against SLSQP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from shapo_rl.algorithms.actor_steps import linearized_cost_step
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import TrustRegionConfig
from shapo_rl.optim import StepDirection
from shapo_rl.optim.constrained_step import Method


@dataclass(frozen=True)
class CPOConfig:
    trust_region: TrustRegionConfig = field(default_factory=lambda: TrustRegionConfig(backtrack_iters=20))


class CPO(Algorithm):
    """CPO; the knobs ``method``, :meth:`reward_must_improve` and :meth:`step_metrics` make PCPO."""

    method: ClassVar[Method] = "cpo"

    def __init__(self, config: CPOConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        # Jc of the last epoch that finished an episode (0 before any did), and the last nu.
        self.register_buffer("episode_cost", torch.zeros((), dtype=torch.float64))
        self.register_buffer("nu", torch.zeros((), dtype=torch.float64))

    def reward_must_improve(self, direction: StepDirection) -> bool:
        """In CPO's feasible cases (> 1) the line search also asks the reward not to get worse."""
        return direction.case > 1

    def step_metrics(self, direction: StepDirection) -> dict[str, float]:
        return {"cpo_case": float(direction.case)}

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.episode_cost.fill_(batch.episode_cost)
        c = float(self.episode_cost) - self.cost_limit
        direction, metrics = linearized_cost_step(context, batch, c, self.config.trust_region, method=self.method,
                                                  reward_must_improve=self.reward_must_improve)
        self.nu.fill_(direction.nu)
        return {**metrics, **self.step_metrics(direction), **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return float(self.nu)
