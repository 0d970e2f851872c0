"""Conjugate gradient for symmetric positive-definite systems given only matrix-vector products."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor],
    b: Tensor,
    iters: int = 15,
    residual_tol: float = 1e-10,
) -> Tensor:
    """Approximately solve ``A x = b`` for SPD ``A`` available only through ``matvec(v) = A v``.

    Standard CG started at x = 0 (as in TRPO, Schulman et al. 2015, Appendix C); stops after
    ``iters`` products or once the squared residual ||b - A x||^2 drops below ``residual_tol``.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        if rr <= residual_tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x += alpha * p
        r -= alpha * ap
        rr_next = r.dot(r)
        p = r + (rr_next / rr) * p
        rr = rr_next
    return x
