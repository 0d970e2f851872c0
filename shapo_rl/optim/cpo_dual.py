"""The CPO step: the trust-region QP with one linear cost constraint, solved in its dual.

Constrained Policy Optimization (Achiam et al. 2017, eqs. 10-12 and Appendix 10.2): with g the
gradient of the reward surrogate, b that of the cost surrogate, c = Jc - d and F the Fisher,

    max_s  g^T s   subject to   1/2 s^T F s <= delta,   c + b^T s <= 0.

With x = F^-1 g, p = F^-1 b, q = g^T F^-1 g, r = g^T F^-1 b, s = b^T F^-1 b, A = q - r^2/s and
B = 2 delta - c^2/s, the dual is max over lambda >= 0 of

    f_a(lambda) = -(A/lambda + B lambda)/2 + r c/s   on  Lambda_a = {lambda c + r > 0}
    f_b(lambda) = -(q/lambda + 2 delta lambda)/2     on  Lambda_b = {lambda c + r <= 0},

each maximised by projecting its stationary point, sqrt(A/B) or sqrt(q/(2 delta)), onto its
interval; then nu = max(lambda c + r, 0)/s and s* = (x - nu p)/lambda.

Signs: the paper's appendix states the dual for min_s g^T s, i.e. with the gradient of the
*loss*; written with the ascent gradient's r = g^T p as here, r changes sign there (interval
bound -r/c, +r c/s in f_a, lambda c + r in nu). The reference implementation (OmniSafe's CPO)
uses the ascent gradient's r in the appendix's formulas; that changes the step in cases 1-2
whenever r != 0, and it no longer solves the QP above. The case analysis and thresholds are the
reference's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

_COST_GRAD_SQ_TOL = 1e-6  # b^T b below this with c < 0: no usable cost gradient (the reference's case 4)


@dataclass(frozen=True)
class CPOStep:
    """Outcome of :func:`cpo_step`.

    ``case``: 4 no cost gradient and feasible, 3 the whole trust region is feasible, 2 feasible
    and the cost boundary cuts the trust region, 1 infeasible but the trust region reaches the
    feasible set, 0 infeasible and out of reach (recovery). ``lam`` multiplies the KL
    constraint (nan in case 0); ``nu`` multiplies the cost constraint (0 in cases 3-4; in case 0
    the recovery step is -nu p with nu = sqrt(2 delta/s), as the reference reports it).
    """

    step: Tensor
    case: int
    lam: float
    nu: float


def _project(value: float, low: float, high: float) -> float | None:
    """value clipped to [low, high]; None when the interval is empty."""
    return None if low > high else min(max(value, low), high)


def _over(numerator: float, lam: float) -> float:
    """numerator / lambda for numerator >= 0, with 0/0 = 0 and a/0 = inf."""
    if numerator == 0:
        return 0.0
    return math.inf if lam == 0 else numerator / lam


def cpo_step(
    x: Tensor,
    p: Tensor,
    g: Tensor,
    b: Tensor,
    c: float,
    fvp: Callable[[Tensor], Tensor],
    max_kl: float,
) -> CPOStep:
    """Solve the CPO QP (module docstring) for the step s in parameter space.

    ``x`` = F^-1 g and ``p`` = F^-1 b come from the caller's CG; ``fvp(v)`` = F v gives q = x^T F x.
    Cases 3-4 take the TRPO step sqrt(2 delta/q) x (zero when g = 0); case 0 the step
    -sqrt(2 delta/s) p, which minimises b^T s in the trust region. Degenerate divisions:
    A is clamped at 0 (it is >= 0 by Cauchy-Schwarz); sqrt(A/B) is inf when B = 0 < A;
    A/lambda and q/lambda are inf at lambda = 0 unless their numerator is 0; where the chosen
    lambda is 0 or inf (only when A = 0 or B = 0) the step is the least-KL optimum: -(c/s) p,
    on the cost boundary, when the constraint binds (nu > 0 or c > 0), else zero. b = 0 exactly
    (s = 0) is feasible everywhere when c <= 0 (case 4) and unrecoverable when c > 0 (case 0 with
    a zero step, nu = 0).
    """
    if max_kl <= 0:
        raise ValueError(f"max_kl must be positive, got {max_kl}")
    delta, c = float(max_kl), float(c)
    if not math.isfinite(c):
        raise ValueError(f"constraint value c = Jc - d must be finite, got {c}")
    q = float(x.dot(fvp(x)))
    r, s = float(g.dot(p)), float(b.dot(p))
    if q < 0 or (q == 0 and bool(g.any())):
        raise ValueError(f"curvature x^T F x = {q} must be positive (is F SPD?)")
    if s <= 0 and bool(b.any()):
        raise ValueError(f"b^T F^-1 b = {s} must be positive (is F SPD?)")

    def trpo(case: int) -> CPOStep:
        alpha = math.sqrt(2 * delta / q) if q > 0 else 0.0
        return CPOStep(alpha * x, case, math.sqrt(q / (2 * delta)), 0.0)

    if (float(b.dot(b)) <= _COST_GRAD_SQ_TOL and c < 0) or (s == 0 and c <= 0):
        return trpo(4)
    if s == 0:
        return CPOStep(torch.zeros_like(x), 0, math.nan, 0.0)
    A = max(q - r * r / s, 0.0)
    B = 2 * delta - c * c / s
    if c < 0 and B < 0:
        return trpo(3)
    if c >= 0 and B < 0:
        nu = math.sqrt(2 * delta / s)
        return CPOStep(-nu * p, 0, math.nan, nu)

    # Cases 1-2. Lambda_a = {lambda c + r > 0} is bounded by -r/c (at c = 0, its c -> 0+ limit).
    bound = -r / c if c != 0 else -math.copysign(math.inf, r) if r != 0 else 0.0
    lam_a = math.sqrt(A / B) if B > 0 else (math.inf if A > 0 else 0.0)
    lam_b = math.sqrt(q / (2 * delta))
    if c < 0:
        lam_a_star, lam_b_star = _project(lam_a, 0.0, bound), _project(lam_b, max(bound, 0.0), math.inf)
    else:
        lam_a_star, lam_b_star = _project(lam_a, max(bound, 0.0), math.inf), _project(lam_b, 0.0, bound)
    f_a, f_b = -math.inf, -math.inf
    if lam_a_star is not None:  # B lambda is 0 when B = 0 (lambda_a* may then be inf)
        f_a = -(_over(A, lam_a_star) + (B * lam_a_star if B > 0 else 0.0)) / 2 + r * c / s
    if lam_b_star is not None:
        f_b = -(_over(q, lam_b_star) + 2 * delta * lam_b_star) / 2
    lam = lam_a_star if f_a >= f_b else lam_b_star
    case = 2 if c < 0 else 1
    nu = max(lam * c + r, 0.0) / s
    if 0 < lam < math.inf:
        return CPOStep((x - nu * p) / lam, case, lam, nu)
    binds = nu > 0 or c > 0
    return CPOStep(-(c / s) * p if binds else torch.zeros_like(x), case, lam, nu)
