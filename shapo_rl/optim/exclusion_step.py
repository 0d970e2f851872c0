"""sTRPO's step (the sTRPO paper, eqs. 8-10): the trust region with the exclusion constraint.

With g the joint surrogate's gradient, phi the gradient of KL(pi_unsafe || pi_theta) and F the
Fisher, eq. 8 linearises both around theta_k:

    max_s  g^T s   subject to   1/2 s^T F s <= delta_1,   phi^T s >= delta_2.

Its stationarity gives s proportional to F^-1 (g + lam phi), lam >= 0 the exclusion constraint's
multiplier (eq. 9 takes the KL-boundary length of that direction). With x = F^-1 g, p = F^-1 phi,
a = g^T x, b = phi^T x, c = phi^T p, the step at radius delta and its margin are

    s(lam) = sqrt(2 delta / (a + 2 lam b + lam^2 c)) (x + lam p),
    phi^T s(lam) = sqrt(2 delta) (b + lam c) / sqrt(a + 2 lam b + lam^2 c),

and the margin grows with lam (its derivative has the sign of ac - b^2 >= 0), from the TRPO
step's at lam = 0 to the most separating step's, sqrt(2 delta c), as lam -> infinity. So the
smallest lam whose step meets the margin is closed-form (:func:`least_multiplier`), and eq. 8 is
feasible iff sqrt(2 delta c) >= delta_2.

Reading of the paper's "in practice" step (Section 4.3), chosen so that its stated properties
hold (every accepted step within delta_1 and at least delta_2 further from pi_unsafe, Theorem 1,
and improvement in both objectives):

* ``weight`` (lambda_2) is the share of the exclusion direction relative to the surrogate's in
  the KL metric: lam >= lambda_2 sqrt(a / c), i.e. phi rescaled to g's natural length. phi's own
  length is the KL to pi_unsafe's gradient, which grows without bound as the policy's std shrinks
  or its mean moves away; unscaled, any fixed lambda_2 ends up dominating g (measured: on
  SafetyHopperVelocity-v1 |phi|_F^-1 was 1.9-2.7x |g|_F^-1, and at lambda_2 = 1 every step
  decreased the reward surrogate). Rescaled, lambda_2 = 1 is the bisector of the two natural
  directions, along which neither the surrogate nor the KL to pi_unsafe decreases to first order
  whatever their angle.
* "adjust lambda_2 >= 0 until the exclusion constraint also holds": lam = max(lambda_2 sqrt(a/c),
  least_multiplier), the solution of eq. 8 with the objective g + lambda_2 phi (Theorem 1's
  lambda_2*).
* Backtracking re-solves eq. 8 at the radii delta_1 r^(2k) (the steps r^k s of TRPO's search
  when the constraint is slack): shrinking a step whose margin is exactly delta_2 would lose it.
  A candidate is accepted when its mean KL is at most delta_1 and its realised margin at least
  delta_2 (the QCQP is solved for (1 + MARGIN_HEADROOM) delta_2 so that the float32 rounding of
  the parameters cannot put it a hair under).
* Fallback (eq. 10, "a conservative reverse step ... maintaining separation from unsafe
  regions"): when no radius qualifies, by default (``fallback="separating"``) the most
  separating step sqrt(2 delta_1 / c) p, the reverse of the step towards pi_unsafe, backtracked
  until its KL is at most delta_1. The literal theta_k - alpha G reverses a direction whose
  margin is positive by construction here, i.e. it would move towards pi_unsafe and down the
  surrogate. ``fallback="trust-region"`` takes TRPO's step sqrt(2 delta_1 / a) x instead, with
  TRPO's acceptance (the surrogate improves, the KL within delta_1).

  Where the fallback fires: eq. 8 is infeasible iff sqrt(2 delta_1 c) < delta_2, and c shrinks
  as the policy leaves pi_unsafe behind (phi weighs each sample by pi_unsafe / pi_k). Once it has
  (on SafetyHopperVelocity-v1 at 1M steps |phi| fell from 0.2-0.7 to 1e-5-1e-4), every epoch
  falls back, and the separating step is a full-radius step along a direction of sampling noise
  that ignores g: all five seeds of the committed sTRPO runs spent 17-20 of their last 20 epochs
  there, their returns falling or (one seed) stuck at a hopper that falls at once. The
  trust-region fallback keeps improving the joint surrogate there instead, the exclusion
  constraint being moot that far from pi_unsafe.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from torch import Tensor

from shapo_rl.optim.conjugate_gradient import conjugate_gradient
from shapo_rl.optim.trust_region import LineSearchResult, backtracking_line_search, first_accepted, improves_within

MARGIN_HEADROOM = 1e-2
FALLBACKS = ("separating", "trust-region")


@dataclass(frozen=True)
class ExclusionGeometry:
    """The inner products a = g^T F^-1 g, b = phi^T F^-1 g, c = phi^T F^-1 phi, with x = F^-1 g
    and p = F^-1 phi."""

    x: Tensor
    p: Tensor
    a: float
    b: float
    c: float

    @property
    def cosine(self) -> float:
        """Cosine of g and phi in the KL metric (nan when either is zero)."""
        return self.b / math.sqrt(self.a * self.c) if self.a > 0 and self.c > 0 else math.nan


def least_multiplier(a: float, b: float, c: float, margin: float, max_kl: float) -> float | None:
    """The smallest lam >= 0 with phi^T s(lam) >= ``margin`` at radius ``max_kl`` (module
    docstring), or None when no step of that radius reaches it. Squaring
    (b + lam c) >= m sqrt(a + 2 lam b + lam^2 c), m = margin / sqrt(2 max_kl), gives
    lam >= (-b + m sqrt((ac - b^2) / (c - m^2))) / c when c > m^2."""
    m = margin / math.sqrt(2 * max_kl)
    if margin <= 0:
        return max(-b / c, 0.0) if c > 0 else 0.0
    if c <= m * m:
        return None
    return max((-b + m * math.sqrt(max(a * c - b * b, 0.0) / (c - m * m))) / c, 0.0)


def exclusion_direction(geometry: ExclusionGeometry, lam: float, max_kl: float) -> Tensor:
    """s(lam) at radius ``max_kl``; the exclusion direction alone where g = 0 (a = 0)."""
    a, b, c = geometry.a, geometry.b, geometry.c
    if a <= 0:
        return math.sqrt(2 * max_kl / c) * geometry.p
    return math.sqrt(2 * max_kl / (a + 2 * lam * b + lam * lam * c)) * (geometry.x + lam * geometry.p)


def multiplier(geometry: ExclusionGeometry, weight: float, margin: float, max_kl: float) -> float | None:
    """lam = max(weight sqrt(a/c), least_multiplier) at radius ``max_kl``; None if infeasible."""
    a, b, c = geometry.a, geometry.b, geometry.c
    least = least_multiplier(a, b, c, margin * (1 + MARGIN_HEADROOM), max_kl)
    if least is None:
        return None
    return max(weight * math.sqrt(a / c), least) if c > 0 else least


def exclusion_step(
    params: Iterable[Tensor],
    g: Tensor,
    phi: Tensor,
    fvp: Callable[[Tensor], Tensor],
    evaluate: Callable[[], tuple[Tensor, ...]],
    *,
    max_kl: float,
    margin: float,
    weight: float,
    cg_iters: int = 15,
    ratio: float = 0.8,
    max_iters: int = 15,
    fallback: str = "separating",
) -> tuple[ExclusionGeometry, float, LineSearchResult]:
    """Step ``params`` by eq. 8's solution (module docstring); ``evaluate()`` returns (loss, mean
    KL, margin phi^T (theta - theta_k)) at the current parameters. Returns the geometry, the
    multiplier lam of the full-radius solution in units of sqrt(a/c) (nan when infeasible or
    phi = 0) and the search's result (``fallback`` set when the fallback step was searched;
    ``fallback`` names it: ``"separating"`` or ``"trust-region"``)."""
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
    params = list(params)
    x = conjugate_gradient(fvp, g, cg_iters)
    p = conjugate_gradient(fvp, phi, cg_iters)
    geometry = ExclusionGeometry(x, p, float(x.dot(fvp(x))), float(phi.dot(x)), float(p.dot(fvp(p))))

    def candidates() -> Iterator[tuple[float, Tensor]]:
        for k in range(max_iters):
            radius = max_kl * ratio ** (2 * k)
            lam = multiplier(geometry, weight, margin, radius)
            if lam is None:  # smaller radii reach even less far from pi_unsafe
                return
            yield ratio**k, exclusion_direction(geometry, lam, radius)

    def within_kl(values: tuple[float, ...]) -> bool:
        return all(math.isfinite(v) for v in values) and values[1] <= max_kl

    def safe(values: tuple[float, ...]) -> bool:
        return within_kl(values) and values[2] >= margin

    lam = multiplier(geometry, weight, margin, max_kl)
    scale = math.sqrt(geometry.c / geometry.a) if geometry.a > 0 and geometry.c > 0 else math.nan
    result = first_accepted(params, candidates(), evaluate, safe)
    if result.accepted:
        return geometry, (lam if lam is not None else math.nan) * scale, result
    # the fallbacks; theta is back at theta_k, bit for bit
    if fallback == "trust-region" and geometry.a > 0:  # TRPO's step on g, TRPO's acceptance
        trpo = math.sqrt(2 * max_kl / geometry.a) * x
        accept = improves_within(float(evaluate()[0]), max_kl)
        result = backtracking_line_search(params, trpo, evaluate, accept, ratio, max_iters)
    elif fallback == "separating" and geometry.c > 0:  # the most separating step, within the KL radius
        separating = math.sqrt(2 * max_kl / geometry.c) * p
        result = backtracking_line_search(params, separating, evaluate, within_kl, ratio, max_iters)
    else:  # phi = 0 (or g = 0): no step separates (or improves)
        result = LineSearchResult(False, 0, 0.0, ())
    return geometry, math.nan, dataclasses.replace(result, fallback=True)
