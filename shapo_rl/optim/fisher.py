"""Fisher-vector products as Hessian-vector products of the mean KL divergence."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import Tensor

from shapo_rl.optim.parameters import flat_grad

Reduce = Callable[[Tensor], Tensor]
"""Averages a tensor across training processes (all-reduce mean); identity on one process."""


def identity_reduce(x: Tensor) -> Tensor:
    """The single-process :data:`Reduce`: returns its argument unchanged."""
    return x


def fisher_vector_product(
    kl_fn: Callable[[], Tensor],
    params: Iterable[Tensor],
    damping: float = 0.1,
    reduce: Reduce | None = None,
    *,
    closed_form: bool = True,
) -> Callable[[Tensor], Tensor]:
    """Return ``v -> reduce(F v) + damping * v``.

    F is the Hessian at the current parameters of the mean KL(pi_old || pi_theta) returned by
    ``kl_fn`` -- at theta = theta_old this is the Fisher information matrix (TRPO, Schulman et
    al. 2015, Appendix C). A ``kl_fn`` that knows its product in closed form (a
    ``fisher_product(params)`` method returning ``v -> F v`` or None) gives it, unless
    ``closed_form`` is False; otherwise the KL gradient graph is built once here
    (``create_graph=True``) and differentiated again for every product (double backward).
    ``reduce`` averages each product over processes; callers should reduce their gradients
    with the same function so every process solves the same system.
    """
    params = list(params)
    reduce = reduce or identity_reduce
    product = kl_fn.fisher_product(params) if closed_form and hasattr(kl_fn, "fisher_product") else None
    if product is None:
        grad_kl = flat_grad(kl_fn(), params, create_graph=True)

        def product(v: Tensor) -> Tensor:
            return flat_grad(grad_kl.dot(v.detach()), params, retain_graph=True)

    def fvp(v: Tensor) -> Tensor:
        return reduce(product(v)) + damping * v

    return fvp
