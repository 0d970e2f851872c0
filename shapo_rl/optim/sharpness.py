"""SHAPO: gradients taken at a pessimistic neighbour of the policy (Algorithm 1 of the paper).

Given a surrogate loss L (to be minimised) at theta_k, SHAPO computes the gradient at
theta_k + eps, where eps is the loss-ascent direction inside a small neighbourhood -- a KL ball
in the policy's Fisher geometry (SHAPO) or a Euclidean ball (E-SAM ablation / SAM, Foret et
al. 2020) -- then restores theta_k and lets the base algorithm step with that gradient.

The KL ball is centred on the current parameters: ``kl_fn`` must return the mean
KL(pi_anchor || pi_theta) with pi_anchor the (detached) policy at the current theta. In TRPO
that is pi_old; for PPO (Algorithm 4), where theta leaves pi_old after the first minibatch, the
anchor is the policy at the start of each minibatch step, and closure and kl_fn are built on
the minibatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from shapo_rl.optim.fisher import Reduce, fisher_vector_product, identity_reduce
from shapo_rl.optim.parameters import flat_grad, get_flat_params, set_flat_params
from shapo_rl.optim.trust_region import natural_gradient_step

Geometry = Literal["fisher", "euclidean"]


def fisher_perturbation(
    grad: Tensor,
    fvp: Callable[[Tensor], Tensor],
    kl_at: Callable[[Tensor], Tensor],
    radius: float,
    cg_iters: int = 15,
    backtrack_ratio: float = 0.8,
    max_backtracks: int = 10,
    rel_tol: float = 1e-9,
    fallback: float = 0.0,
) -> tuple[Tensor, int]:
    """Loss-ascent perturbation in the KL ball of size ``radius``; returns ``(eps, j)``.

    Steps 2-3 of Algorithm 1: eps0 = sqrt(2 delta / (x^T F x)) x with x = CG(F, grad) (the
    Lemma 4 step along +grad, so the loss gets worse: the pessimistic neighbour of Prop. 2),
    then eps = backtrack_ratio^j eps0 for the first j with ``kl_at(eps) <= radius (1 + rel_tol)``.
    The tolerance accepts a KL equal to the radius up to rounding (exactly the case of Prop. 3).
    If no j < ``max_backtracks`` qualifies the result is ``fallback * eps0`` with
    ``j == max_backtracks``: zero by default, 0.1 eps0 (whatever its KL) in the SHAPO authors'
    code; ``radius == 0`` gives exact zeros.
    """
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    if not 0 <= fallback <= 1:
        raise ValueError(f"fallback must lie in [0, 1], got {fallback}")
    if radius == 0:
        return torch.zeros_like(grad), 0
    eps0, _ = natural_gradient_step(grad, fvp, radius, cg_iters)
    for j in range(max_backtracks):
        eps = backtrack_ratio**j * eps0
        if float(kl_at(eps)) <= radius * (1 + rel_tol):
            return eps, j
    return (fallback * eps0 if fallback else torch.zeros_like(grad)), max_backtracks


def euclidean_perturbation(grad: Tensor, radius: float) -> Tensor:
    """eps = radius * grad / ||grad||_2 over the whole flat vector (SAM, Foret et al. 2020).

    A zero gradient gives a zero perturbation.
    """
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    norm = grad.norm()
    if norm == 0:
        return torch.zeros_like(grad)
    return radius * grad / norm


@dataclass(frozen=True)
class PerturbationInfo:
    """Per-update log of Algorithm 1.

    ``loss`` is L(theta), ``loss_drop`` is L(theta + eps) - L(theta) (>= 0 to first order),
    ``kl`` the mean KL(pi_theta || pi_theta+eps) actually reached (NaN when no kl_fn was given),
    ``cosine`` is cos(g, g_shapo), ``backtracks`` the j of :func:`fisher_perturbation` and
    ``fell_back`` whether no backtrack fitted (eps is then the fallback's).
    """

    norm: float
    kl: float
    loss: float
    loss_drop: float
    cosine: float
    radius: float
    backtracks: int
    fell_back: bool = False


def sharpness_aware_gradient(
    closure: Callable[[], Tensor],
    params: Iterable[Tensor],
    *,
    geometry: Geometry,
    radius: float,
    kl_fn: Callable[[], Tensor] | None = None,
    damping: float = 0.1,
    cg_iters: int = 15,
    reduce: Reduce | None = None,
    fallback: float = 0.0,
    max_backtracks: int = 10,
) -> tuple[Tensor, Tensor, PerturbationInfo]:
    """Return ``(g, g_shapo, info)``: grad L at theta and at the pessimistic neighbour theta + eps.

    Algorithm 1 of the SHAPO paper, steps 1-4. ``closure`` returns the differentiable loss at
    the current parameters (the caller keeps the behaviour log-probabilities fixed, so at
    theta + eps the ratio is still taken against pi_old); ``kl_fn`` the mean KL from the policy
    at the current theta (see the module docstring), required by the Fisher geometry and also
    used to report the KL reached by a Euclidean eps. Gradients are passed through ``reduce``;
    ``fallback`` and ``max_backtracks`` are :func:`fisher_perturbation`'s.
    The parameters are restored bit-exactly from a saved copy; with eps = 0 (radius 0, or no
    admissible backtrack) no second evaluation happens and ``g_shapo`` equals ``g``.
    """
    params = list(params)
    reduce = reduce or identity_reduce

    def value(x: Tensor) -> float:
        return float(reduce(x.detach()))

    with torch.enable_grad():
        loss = closure()
        g = reduce(flat_grad(loss, params))
    theta = get_flat_params(params)

    def kl_at(eps: Tensor) -> Tensor:
        assert kl_fn is not None
        set_flat_params(params, theta + eps)
        try:
            with torch.no_grad():
                return reduce(kl_fn())
        finally:
            set_flat_params(params, theta)

    if geometry == "fisher":
        if kl_fn is None:
            raise ValueError("the Fisher geometry needs kl_fn")
        with torch.enable_grad():
            fvp = fisher_vector_product(kl_fn, params, damping, reduce)
        eps, backtracks = fisher_perturbation(g, fvp, kl_at, radius, cg_iters, max_backtracks=max_backtracks,
                                              fallback=fallback)
    elif geometry == "euclidean":
        eps, backtracks = euclidean_perturbation(g, radius), 0
    else:
        raise ValueError(f"geometry must be one of {get_args(Geometry)}, got {geometry!r}")

    loss_value = value(loss)
    if eps.any():
        set_flat_params(params, theta + eps)
        try:
            with torch.enable_grad():
                perturbed_loss = closure()
                g_shapo = reduce(flat_grad(perturbed_loss, params))
        finally:
            set_flat_params(params, theta)
        drop = value(perturbed_loss) - loss_value
        kl = float("nan") if kl_fn is None else float(kl_at(eps))
    else:
        g_shapo, drop, kl = g.clone(), 0.0, 0.0

    info = PerturbationInfo(
        norm=float(eps.norm()),
        kl=kl,
        loss=loss_value,
        loss_drop=drop,
        cosine=float(F.cosine_similarity(g, g_shapo, dim=0)),
        radius=radius,
        backtracks=backtracks,
        fell_back=geometry == "fisher" and radius > 0 and backtracks == max_backtracks,
    )
    return g, g_shapo, info


@dataclass(frozen=True)
class ObjectiveGradient:
    """What :meth:`SharpnessAwareGradient.step` yields: the gradient to step with (g_shapo, or g
    without a perturbation), the loss L(theta) and the perturbation's diagnostics (None without)."""

    grad: Tensor
    loss: float
    perturbation: PerturbationInfo | None


class SharpnessAwareGradient:
    """The SHAPO step as a closure-driven gradient transform, for any objective of any algorithm.

    ``step(closure, kl_fn)`` evaluates the loss at theta, perturbs to theta + eps (``"fisher"``:
    in the KL ball, ``"euclidean"``: in an L2 ball), evaluates the gradient there, restores theta
    bit-exactly and returns it (Algorithm 1, steps 1-4). With ``geometry="none"`` (or radius 0)
    it returns the plain gradient of the closure at theta. The algorithm then steps with it:
    TRPO passes it to the trust-region step at theta, PPO writes it to ``p.grad`` for Adam, CPO
    perturbs its reward loss and its cost loss separately (each towards a worse value) and
    solves its dual with both gradients. ``radius`` may change between steps (schedules).
    """

    def __init__(self, params: Iterable[Tensor], geometry: Geometry | Literal["none"], radius: float = 0.0, *,
                 damping: float = 0.1, cg_iters: int = 15, reduce: Reduce | None = None,
                 fallback: float = 0.0) -> None:
        if geometry not in ("none", *get_args(Geometry)):
            raise ValueError(f"geometry must be none, fisher or euclidean, got {geometry!r}")
        self.params = list(params)
        self.geometry = geometry
        self.radius = radius
        self.damping = damping
        self.cg_iters = cg_iters
        self.fallback = fallback
        self.reduce = reduce or identity_reduce

    @property
    def perturbs(self) -> bool:
        return self.geometry != "none"

    def step(self, closure: Callable[[], Tensor], kl_fn: Callable[[], Tensor] | None = None) -> ObjectiveGradient:
        if not self.perturbs:
            with torch.enable_grad():
                loss = closure()
                grad = self.reduce(flat_grad(loss, self.params))
            return ObjectiveGradient(grad, float(self.reduce(loss.detach())), None)
        _, g_shapo, info = sharpness_aware_gradient(closure, self.params, geometry=self.geometry, radius=self.radius,
                                                    kl_fn=kl_fn, damping=self.damping, cg_iters=self.cg_iters,
                                                    reduce=self.reduce, fallback=self.fallback)
        return ObjectiveGradient(g_shapo, info.loss, info)
