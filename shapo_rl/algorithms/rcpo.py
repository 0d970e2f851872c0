"""RCPO: Reward Constrained Policy Optimization (Tessler et al. 2019).

The actor ascends the penalised reward r - lambda c (Section 4 of the paper): the penalty is
in the return, so its advantage is the GAE of r - lambda c with the value V_r - lambda V_c,
which is A_r - lambda A_c exactly (:meth:`UpdateBatch.penalized_advantage`: GAE is linear in
rewards and values), raw -- not the reference library's separately normalised
(A_r - lambda A_c) / (1 + lambda) on z-scored A_r and centred A_c. The penalised advantage is then
z-scored over the batch (a baseline and a scale; the natural step's length is fixed by delta, so
the scale cancels). lambda >= 0 follows projected gradient ascent on Jc - d, once per epoch before
the actor step (Algorithm 1; the shared Lagrange multiplier with the reference library's init
0.001, lr 0.035, Adam). The timescales of Algorithm 1 (critics fastest, lambda slowest) come
from the critics' many minibatch steps per epoch against the one actor step and lambda's small
learning rate.

The actor takes one natural policy gradient step, sqrt(2 delta / x^T F x) x with x = F^-1 g, as
the reference library (NaturalPG: delta 0.01, CG 15, damping 0.1) and without its line search
by default (the paper leaves the policy optimiser open); ``line_search=true`` backtracks it as
TRPO (``trust_region.backtrack_*``: the surrogate must improve within the KL radius). With
SHAPO, g is taken at the pessimistic neighbour of the penalised surrogate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from shapo_rl.algorithms.actor_steps import kl_to_behaviour, perturbation_metrics, surrogate
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import LagrangeConfig, TrustRegionConfig
from shapo_rl.constraints import LagrangeMultiplier
from shapo_rl.optim import constrained_natural_step, fisher_vector_product, improves_within
from shapo_rl.rollout import standardize


@dataclass(frozen=True)
class RCPOConfig:
    """The multiplier (reference: init 0.001, lr 0.035), the natural step's trust region and
    whether to backtrack it (reference: no line search)."""

    lagrange: LagrangeConfig = field(default_factory=LagrangeConfig)
    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)
    line_search: bool = False


class RCPO(Algorithm):
    def __init__(self, config: RCPOConfig, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        lagrange = config.lagrange
        self.lagrange = LagrangeMultiplier(cost_limit, init=lagrange.init, lr=lagrange.lr,
                                           optimizer=lagrange.optimizer)

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        tr = self.config.trust_region
        if batch.has_episode_cost:
            self.lagrange.update(batch.episode_cost)
        advantage = standardize(batch.penalized_advantage(self.multiplier), total=context.total)
        policy, params = context.policy, list(context.policy.parameters())
        closure, kl_fn = surrogate(policy, batch, advantage), kl_to_behaviour(context, batch)
        gradient = context.gradient.step(closure, kl_fn)
        with torch.enable_grad():
            fvp = fisher_vector_product(kl_fn, params, tr.damping, context.reduce)
        improves = improves_within(gradient.loss, tr.max_kl)

        def evaluate():
            return context.reduce(closure().detach()), context.reduce(kl_fn().detach())

        def accept(_, values: tuple[float, ...]) -> bool:
            return improves(values) if self.config.line_search else all(math.isfinite(v) for v in values)

        _, result = constrained_natural_step(params, -gradient.grad, fvp, tr.max_kl, evaluate, accept,
                                             cg_iters=tr.cg_iters, ratio=tr.backtrack_ratio,
                                             max_iters=tr.backtrack_iters if self.config.line_search else 1)
        loss, kl = result.values if result.accepted else (gradient.loss, 0.0)
        metrics = {"actor_loss": loss, "kl": kl, "trust_region_accepted": float(result.accepted),
                   "backtracks": float(result.steps_taken), **perturbation_metrics([gradient.perturbation])}
        return {**metrics, **context.update_critics(batch)}

    @property
    def multiplier(self) -> float:
        return self.lagrange.multiplier
