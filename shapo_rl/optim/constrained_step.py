"""One constrained natural-gradient step, shared by every trust-region algorithm.

Maximise g^T s subject to 1/2 s^T F s <= delta and, optionally, one linearised constraint
c + b^T s <= 0 (F through Fisher-vector products only). Without a constraint this is TRPO's step
(Lemma 4 of the SHAPO paper); with one, ``method`` says how the constraint enters: ``"cpo"``
solves the QP (Achiam et al. 2017, eq. 10, through its dual,
:func:`~shapo_rl.optim.cpo_dual.cpo_step`), ``"pcpo"`` takes the reward step and projects it onto
the constraint in the KL metric (Yang et al. 2020, :func:`~shapo_rl.optim.pcpo_projection.pcpo_step`).
Either way F^-1 g and F^-1 b are solved once each by CG. The step is then backtracked with an
acceptance predicate that the algorithm supplies (TRPO: the surrogate improves within the KL
radius; CPO, PCPO: the KL, the cost-surrogate growth and, where CPO is feasible, the reward
improvement). sTRPO's step, whose backtracking re-solves its QCQP at smaller radii, is
:mod:`shapo_rl.optim.exclusion_step`.
:class:`TrustRegionOptimizer` is the unconstrained use as a torch optimiser.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from shapo_rl.optim.conjugate_gradient import conjugate_gradient
from shapo_rl.optim.cpo_dual import cpo_step
from shapo_rl.optim.fisher import Reduce, fisher_vector_product, identity_reduce
from shapo_rl.optim.parameters import flat_grad, optimizer_params
from shapo_rl.optim.pcpo_projection import pcpo_step
from shapo_rl.optim.trust_region import (
    LineSearchResult,
    backtracking_line_search,
    improves_within,
    natural_gradient_step,
)


@dataclass(frozen=True)
class LinearConstraint:
    """The linearised constraint c + b^T s <= 0 on a step s (CPO: b the cost-surrogate gradient,
    c = Jc - d)."""

    b: Tensor
    c: float


@dataclass(frozen=True)
class StepDirection:
    """The full step before backtracking. ``case`` is CPO's (0 infeasible recovery, 1-2 constraint
    active, 3 trust region feasible, 4 no constraint gradient), None without a constraint or with
    PCPO's projection; ``lam`` and ``nu`` are the dual variables of the KL and the linear
    constraint (PCPO: the reward step's KL multiplier and the projection's coefficient)."""

    step: Tensor
    case: int | None
    lam: float
    nu: float


Accept = Callable[[StepDirection, tuple[float, ...]], bool]
Method = Literal["cpo", "pcpo"]


def step_direction(g: Tensor, fvp: Callable[[Tensor], Tensor], max_kl: float,
                   constraint: LinearConstraint | None = None, *, method: Method = "cpo",
                   cg_iters: int = 15) -> StepDirection:
    """The full step: x = F^-1 g by CG, and with a constraint also p = F^-1 b, then CPO's QP
    solution or PCPO's projected step (``method``; module docstring)."""
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {get_args(Method)}, got {method!r}")
    if constraint is None:
        step, _ = natural_gradient_step(g, fvp, max_kl, cg_iters)
        return StepDirection(step, None, math.nan, 0.0)
    x = conjugate_gradient(fvp, g, cg_iters)
    p = conjugate_gradient(fvp, constraint.b, cg_iters)
    if method == "pcpo":
        projected = pcpo_step(x, p, constraint.b, constraint.c, fvp, max_kl)
        return StepDirection(projected.step, None, projected.lam, projected.nu)
    solved = cpo_step(x, p, g, constraint.b, constraint.c, fvp, max_kl)
    return StepDirection(solved.step, solved.case, solved.lam, solved.nu)


def constrained_natural_step(
    params: Iterable[Tensor],
    g: Tensor,
    fvp: Callable[[Tensor], Tensor],
    max_kl: float,
    evaluate: Callable[[], tuple[Tensor, ...]],
    accept: Accept,
    *,
    constraint: LinearConstraint | None = None,
    method: Method = "cpo",
    cg_iters: int = 15,
    ratio: float = 0.8,
    max_iters: int = 15,
) -> tuple[StepDirection, LineSearchResult]:
    """Step ``params`` along the QP's solution, backtracked until ``accept(direction, evaluate())``.

    ``g`` is the gradient of the objective to maximise (already reduced over processes, as is
    ``fvp``). A rejected search leaves the parameters bit-identical.
    """
    params = list(params)
    direction = step_direction(g, fvp, max_kl, constraint, method=method, cg_iters=cg_iters)
    result = backtracking_line_search(params, direction.step, evaluate, lambda values: accept(direction, values),
                                      ratio, max_iters)
    return direction, result


@dataclass(frozen=True)
class TrustRegionInfo:
    """Diagnostics of one :meth:`TrustRegionOptimizer.step`."""

    loss_before: float
    loss_after: float
    kl: float
    accepted: bool
    backtracks: int
    grad_norm: float
    step_norm: float


class TrustRegionOptimizer(torch.optim.Optimizer):
    """TRPO update (Schulman et al. 2015; Section 1 of the SHAPO paper) as a torch optimiser.

    One joint trust region over every parameter of every group; the hyper-parameters are read
    from ``defaults``. ``reduce`` averages gradients, Fisher-vector products and the line-search
    values across processes so that all of them take the same decision.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        max_kl: float = 0.01,
        cg_iters: int = 15,
        damping: float = 0.1,
        backtrack_ratio: float = 0.8,
        backtrack_iters: int = 15,
        reduce: Reduce | None = None,
    ) -> None:
        if max_kl <= 0:
            raise ValueError(f"max_kl must be positive, got {max_kl}")
        if not 0 < backtrack_ratio < 1:
            raise ValueError(f"backtrack_ratio must lie in (0, 1), got {backtrack_ratio}")
        if cg_iters < 1 or backtrack_iters < 1:
            raise ValueError("cg_iters and backtrack_iters must be at least 1")
        defaults = dict(max_kl=max_kl, cg_iters=cg_iters, damping=damping, backtrack_ratio=backtrack_ratio,
                        backtrack_iters=backtrack_iters)
        super().__init__(params, defaults)
        self.reduce = reduce or identity_reduce

    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Tensor],
        kl_fn: Callable[[], Tensor],
        grad: Tensor | None = None,
        loss_before: float | None = None,
    ) -> TrustRegionInfo:
        """One TRPO update from theta; ``grad`` (already reduced) replaces grad L(theta) if given,
        and ``loss_before`` (reduced) spares evaluating L(theta) again when the caller has it.

        The search direction is the natural gradient of -grad; CG, the Fisher and the line
        search all use theta and the unperturbed ``closure`` (step 5 of Algorithm 1 of the
        SHAPO paper, which passes its g_shapo here).
        """
        cfg = self.defaults
        params = optimizer_params(self)
        with torch.enable_grad():
            if grad is None or loss_before is None:
                loss = closure()
                grad = self.reduce(flat_grad(loss, params)) if grad is None else grad
                loss_before = float(self.reduce(loss.detach()))
            fvp = fisher_vector_product(kl_fn, params, cfg["damping"], self.reduce)
        improves = improves_within(loss_before, cfg["max_kl"])

        def evaluate() -> tuple[Tensor, Tensor]:
            return self.reduce(closure().detach()), self.reduce(kl_fn().detach())

        direction, result = constrained_natural_step(
            params, -grad, fvp, cfg["max_kl"], evaluate, lambda _, values: improves(values),
            cg_iters=cfg["cg_iters"], ratio=cfg["backtrack_ratio"], max_iters=cfg["backtrack_iters"])
        return TrustRegionInfo(
            loss_before=loss_before,
            loss_after=result.loss if result.accepted else loss_before,
            kl=result.kl if result.accepted else 0.0,
            accepted=result.accepted,
            backtracks=result.steps_taken,
            grad_norm=float(grad.norm()),
            step_norm=result.step_fraction * float(direction.step.norm()),
        )
