"""The PCPO step: the TRPO reward step, then its KL projection onto the linearised cost constraint.

Projection-Based Constrained Policy Optimization (Yang et al. 2020, Section 4, the closed-form
update with L = F, the KL projection): with g the gradient of the reward surrogate, b that of the
cost surrogate, c = Jc - d, x = F^-1 g, p = F^-1 b, q = g^T F^-1 g and s = b^T F^-1 b,

    s_r  = sqrt(2 delta / q) x                                  (reward step in the KL ball)
    step = s_r - max(0, (sqrt(2 delta / q) b^T F^-1 g + c) / s) p  (projection onto c + b^T s <= 0)

i.e. the step minimising 1/2 (step - s_r)^T F (step - s_r) subject to c + b^T step <= 0.
The reference library (OmniSafe's PCPO) writes F x in place of x = F^-1 g in s_r (only the scalar
b^T F^-1 g is right there); this follows the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class PCPOStep:
    """Outcome of :func:`pcpo_step`: ``lam`` = sqrt(q / (2 delta)) is the KL multiplier of the
    reward step (s_r = x / lam), ``nu`` the projection's coefficient on p (0: s_r already feasible)."""

    step: Tensor
    lam: float
    nu: float


def pcpo_step(x: Tensor, p: Tensor, b: Tensor, c: float, fvp: Callable[[Tensor], Tensor], max_kl: float) -> PCPOStep:
    """The KL-projected PCPO step (module docstring) from the caller's CG solutions x and p.

    b^T F^-1 g is taken as b^T x, so that c + b^T step = 0 holds to rounding whenever the
    projection is active, however accurate the CG. g = 0 (q = 0) gives s_r = 0; b = 0 exactly
    (s = 0) leaves nothing to project onto, and the step is s_r.
    """
    if max_kl <= 0:
        raise ValueError(f"max_kl must be positive, got {max_kl}")
    if not math.isfinite(c):
        raise ValueError(f"constraint value c = Jc - d must be finite, got {c}")
    q, s = float(x.dot(fvp(x))), float(b.dot(p))
    if q < 0 or (q == 0 and bool(x.any())):
        raise ValueError(f"curvature x^T F x = {q} must be positive (is F SPD?)")
    if s <= 0 and bool(b.any()):
        raise ValueError(f"b^T F^-1 b = {s} must be positive (is F SPD?)")
    alpha = math.sqrt(2 * max_kl / q) if q > 0 else 0.0
    nu = max(0.0, (alpha * float(b.dot(x)) + c) / s) if s > 0 else 0.0
    return PCPOStep(alpha * x - nu * p, math.sqrt(q / (2 * max_kl)), nu)
