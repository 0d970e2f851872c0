"""Natural-gradient trust-region step with backtracking line search (TRPO).

Convention used throughout the library: a *closure* returns the differentiable surrogate loss
(to be minimised) at the current parameters and does not call ``backward``; a *kl_fn* returns
the differentiable mean KL(pi_old || pi_theta) at the current parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from shapo_rl.optim.conjugate_gradient import conjugate_gradient
from shapo_rl.optim.fisher import Reduce, fisher_vector_product, identity_reduce
from shapo_rl.optim.parameters import (
    flat_grad,
    get_flat_params,
    optimizer_params,
    set_flat_params,
)


class NonFiniteError(FloatingPointError):
    """A quantity of the update (gradient, curvature, ...) is NaN or infinite."""


def _require_finite(name: str, value: Tensor) -> None:
    if not bool(torch.isfinite(value).all()):
        raise NonFiniteError(f"{name} is not finite: {value}")


def natural_gradient_step(
    grad: Tensor,
    fvp: Callable[[Tensor], Tensor],
    max_kl: float,
    cg_iters: int = 15,
    residual_tol: float = 1e-10,
) -> tuple[Tensor, Tensor]:
    """Largest step along F^-1 g inside the quadratic KL ball; returns ``(step, x)``.

    Lemma 4 of the SHAPO paper (TRPO, Schulman et al. 2015): max_s g^T s subject to
    1/2 s^T F s <= delta is solved by s* = sqrt(2 delta / (g^T F^-1 g)) F^-1 g. With
    x = CG(F, g) this is ``step = sqrt(2 delta / (x^T F x)) x``. A zero ``grad`` gives a zero
    step; non-positive or non-finite curvature x^T F x raises.
    """
    _require_finite("gradient", grad)
    if not grad.any():
        return torch.zeros_like(grad), torch.zeros_like(grad)
    x = conjugate_gradient(fvp, grad, cg_iters, residual_tol)
    curvature = x.dot(fvp(x))
    _require_finite("curvature x^T F x", curvature)
    if curvature <= 0:
        raise ValueError(f"curvature x^T F x = {float(curvature)} must be positive (is F SPD?)")
    return torch.sqrt(2 * max_kl / curvature) * x, x


@dataclass(frozen=True)
class LineSearchResult:
    """Outcome of :func:`backtracking_line_search` (loss/kl are those of the accepted point)."""

    accepted: bool
    steps_taken: int
    step_fraction: float
    loss: float
    kl: float


def backtracking_line_search(
    params: Iterable[Tensor],
    step: Tensor,
    evaluate: Callable[[], tuple[Tensor, Tensor]],
    loss_before: float,
    max_kl: float,
    ratio: float = 0.8,
    max_iters: int = 15,
) -> LineSearchResult:
    """Move to the first theta + ratio^k step (k = 0..max_iters-1) that improves and stays close.

    TRPO's line search: ``evaluate()`` gives (surrogate loss, mean KL) at the current
    parameters; a candidate is accepted when its loss is strictly below ``loss_before`` and its
    KL is at most ``max_kl``. If none is, theta is restored bit-exactly and
    ``steps_taken == max_iters``.
    """
    params = list(params)
    theta = get_flat_params(params)
    for k in range(max_iters):
        fraction = ratio**k
        set_flat_params(params, theta + fraction * step)
        with torch.no_grad():
            loss, kl = (float(v) for v in evaluate())
        if math.isfinite(loss) and loss < loss_before and kl <= max_kl:
            return LineSearchResult(True, k, fraction, loss, kl)
    set_flat_params(params, theta)
    return LineSearchResult(False, max_iters, 0.0, loss_before, 0.0)


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
        defaults = dict(
            max_kl=max_kl,
            cg_iters=cg_iters,
            damping=damping,
            backtrack_ratio=backtrack_ratio,
            backtrack_iters=backtrack_iters,
        )
        super().__init__(params, defaults)
        self.reduce = reduce or identity_reduce

    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Tensor],
        kl_fn: Callable[[], Tensor],
        grad: Tensor | None = None,
    ) -> TrustRegionInfo:
        """One TRPO update from theta; ``grad`` (already reduced) replaces grad L(theta) if given.

        The search direction is the natural gradient of -grad; CG, the Fisher and the line
        search all use theta and the unperturbed ``closure`` (step 5 of Algorithm 1 of the
        SHAPO paper, which passes its g_shapo here).
        """
        cfg = self.defaults
        params = optimizer_params(self)
        with torch.enable_grad():
            loss = closure()
            if grad is None:
                grad = self.reduce(flat_grad(loss, params))
            fvp = fisher_vector_product(kl_fn, params, cfg["damping"], self.reduce)
        loss_before = float(self.reduce(loss.detach()))
        step, _ = natural_gradient_step(-grad, fvp, cfg["max_kl"], cfg["cg_iters"])

        def evaluate() -> tuple[Tensor, Tensor]:
            return self.reduce(closure().detach()), self.reduce(kl_fn().detach())

        result = backtracking_line_search(
            params,
            step,
            evaluate,
            loss_before,
            cfg["max_kl"],
            cfg["backtrack_ratio"],
            cfg["backtrack_iters"],
        )
        return TrustRegionInfo(
            loss_before=loss_before,
            loss_after=result.loss,
            kl=result.kl,
            accepted=result.accepted,
            backtracks=result.steps_taken,
            grad_norm=float(grad.norm()),
            step_norm=result.step_fraction * float(step.norm()),
        )
