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

import math
from dataclasses import dataclass, field

import torch

from shapo_rl.algorithms.actor_steps import kl_to_behaviour, perturbation_metrics, surrogate
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import TrustRegionConfig
from shapo_rl.optim import LinearConstraint, StepDirection, constrained_natural_step, fisher_vector_product


@dataclass(frozen=True)
class CPOConfig:
    trust_region: TrustRegionConfig = field(default_factory=lambda: TrustRegionConfig(backtrack_iters=20))


class CPO(Algorithm):
    def __init__(self, config: CPOConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        # Jc of the last epoch that finished an episode (0 before any did), and the last nu.
        self.register_buffer("episode_cost", torch.zeros((), dtype=torch.float64))
        self.register_buffer("nu", torch.zeros((), dtype=torch.float64))

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        tr = self.config.trust_region
        if batch.has_episode_cost:
            self.episode_cost.fill_(batch.episode_cost)
        c = float(self.episode_cost) - self.cost_limit
        adv_r, adv_c = context.standardized(batch)
        policy, params = context.policy, list(context.policy.parameters())
        reward_loss = surrogate(policy, batch, adv_r)  # -mean[r_t A_r]
        cost_loss = surrogate(policy, batch, -adv_c)  # the cost surrogate mean[r_t A_c]
        kl_fn = kl_to_behaviour(context, batch)
        reward = context.gradient.step(reward_loss, kl_fn)
        cost = context.gradient.step(cost_loss, kl_fn)
        with torch.enable_grad():
            fvp = fisher_vector_product(kl_fn, params, tr.damping, context.reduce)

        def evaluate():
            return (context.reduce(reward_loss().detach()), context.reduce(kl_fn().detach()),
                    context.reduce(cost_loss().detach()))

        def accept(direction: StepDirection, values: tuple[float, ...]) -> bool:
            loss_r, kl, loss_c = values
            return (all(math.isfinite(v) for v in values) and kl <= tr.max_kl
                    and loss_c - cost.loss <= max(-c, 0.0)
                    and (direction.case <= 1 or loss_r <= reward.loss))

        direction, result = constrained_natural_step(
            params, -reward.grad, fvp, tr.max_kl, evaluate, accept, constraint=LinearConstraint(cost.grad, c),
            cg_iters=tr.cg_iters, ratio=tr.backtrack_ratio, max_iters=tr.backtrack_iters)
        self.nu.fill_(direction.nu)
        loss_r, kl, loss_c = result.values if result.accepted else (reward.loss, 0.0, cost.loss)
        metrics = {"actor_loss": loss_r, "cost_surrogate": loss_c, "kl": kl, "cpo_case": float(direction.case),
                   "trust_region_accepted": float(result.accepted), "backtracks": float(result.steps_taken),
                   "constraint_value": c, **perturbation_metrics([reward.perturbation]),
                   **perturbation_metrics([cost.perturbation], prefix="shapo_cost")}
        return {**metrics, **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return float(self.nu)
