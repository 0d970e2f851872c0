"""The pieces of a natural-gradient trust-region step: the Lemma 4 step and the backtracking line search.

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
from shapo_rl.optim.parameters import get_flat_params, set_flat_params


class NonFiniteError(FloatingPointError):
    """A quantity of the update (gradient, curvature, ...) is NaN or infinite."""


def check_finite(name: str, value: Tensor) -> None:
    """Stop the run, naming the quantity, as soon as a NaN or inf appears."""
    if not torch.isfinite(value).all():
        raise NonFiniteError(f"non-finite values in {name}")


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
    """Outcome of :func:`backtracking_line_search`: ``values`` are ``evaluate()``'s at the accepted
    point (by convention the surrogate loss first, the mean KL second), empty when none was;
    ``fallback`` marks a search along a fallback step after the first found nothing."""

    accepted: bool
    steps_taken: int
    step_fraction: float
    values: tuple[float, ...]
    fallback: bool = False

    @property
    def loss(self) -> float:
        return self.values[0]

    @property
    def kl(self) -> float:
        return self.values[1]


def first_accepted(
    params: Iterable[Tensor],
    candidates: Iterable[tuple[float, Tensor]],
    evaluate: Callable[[], tuple[Tensor, ...]],
    accept: Callable[[tuple[float, ...]], bool],
) -> LineSearchResult:
    """Move to theta + step for the first ``(fraction, step)`` of ``candidates`` that ``accept``
    admits (``evaluate()`` gives the values it judges at the candidate point); ``steps_taken`` is
    its index and ``step_fraction`` its fraction. If none is admitted, theta is restored
    bit-exactly and ``steps_taken`` is the number of candidates tried."""
    params = list(params)
    theta = get_flat_params(params)
    tried = 0
    for k, (fraction, step) in enumerate(candidates):
        tried = k + 1
        set_flat_params(params, theta + step)
        with torch.no_grad():
            values = tuple(float(v) for v in evaluate())
        if accept(values):
            return LineSearchResult(True, k, fraction, values)
    set_flat_params(params, theta)
    return LineSearchResult(False, tried, 0.0, ())


def backtracking_line_search(
    params: Iterable[Tensor],
    step: Tensor,
    evaluate: Callable[[], tuple[Tensor, ...]],
    accept: Callable[[tuple[float, ...]], bool],
    ratio: float = 0.8,
    max_iters: int = 15,
) -> LineSearchResult:
    """Move to the first theta + ratio^k step (k = 0..max_iters-1) that ``accept`` admits.

    ``evaluate()`` gives the values the predicate judges (surrogate losses, mean KL) at the
    current parameters. If no candidate is admitted, theta is restored bit-exactly and
    ``steps_taken == max_iters``.
    """
    return first_accepted(params, ((ratio**k, ratio**k * step) for k in range(max_iters)), evaluate, accept)


def improves_within(loss_before: float, max_kl: float) -> Callable[[tuple[float, ...]], bool]:
    """TRPO's acceptance: the surrogate loss (values[0]) strictly below ``loss_before`` and the
    mean KL (values[1]) at most ``max_kl``."""

    def accept(values: tuple[float, ...]) -> bool:
        loss, kl = values[0], values[1]
        return math.isfinite(loss) and loss < loss_before and kl <= max_kl

    return accept
