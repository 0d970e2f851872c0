"""Sharpness-aware minimisation (SAM, Foret et al. 2020) for the critics, per member.

One step on a loss L(w): g = grad L(w); eps = rho g / ||g||_2; g' = grad L(w + eps); w is
restored bit-exactly and the base optimiser steps with g'. For a stack of independent models
whose parameters all carry the member index as their leading dimension (the critics'
:class:`~shapo_rl.models.networks.StackedMLP`), ``members=k`` takes the norm per member and
gives member i its own radius rho_i: exactly k separate SAM steps, one per model, in the
forward/backward passes of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from shapo_rl.optim.fisher import Reduce, identity_reduce
from shapo_rl.optim.parameters import optimizer_params
from shapo_rl.optim.wrapper import OptimizerWrapper

Closure = Callable[[], Tensor | tuple[Tensor, list[Tensor]]]
"""The loss at the current weights, differentiable (autograd takes its gradients), or the loss
and its gradients, one per parameter in the optimiser's order, where the model derives them."""


class SAM(OptimizerWrapper):
    """SAM around a base optimiser built here from ``base_optimizer_cls(params, **base_kwargs)``.

    ``step(closure)``: ``closure`` returns the differentiable loss without calling backward, a
    scalar or (with ``members``) one loss per member, whose sum is differentiated (members'
    parameters are disjoint, so each gets the gradient of its own loss); or it returns that loss
    with its gradients already taken (:data:`Closure`). ``rho`` is one radius or,
    with ``members``, one per member; a zero radius or a zero gradient leaves that member
    unperturbed, and where no member is perturbed there is no second pass: ``rho = 0`` is
    exactly the base optimiser. Gradients go through ``reduce`` (the mean over processes).
    ``max_grad_norm`` clips the norm of the gradient the base steps with, per member, as
    ``torch.nn.utils.clip_grad_norm_`` does for one model (None: no clipping).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        base_optimizer_cls: type[torch.optim.Optimizer] = torch.optim.Adam,
        rho: float | Sequence[float] = 0.05,
        *,
        members: int | None = None,
        reduce: Reduce | None = None,
        max_grad_norm: float | None = None,
        **base_kwargs: Any,
    ) -> None:
        super().__init__(base_optimizer_cls(params, **base_kwargs))
        self.members = members
        self.max_grad_norm = max_grad_norm
        self.reduce = reduce or identity_reduce
        self.rho = rho

    @property
    def rho(self) -> float | tuple[float, ...]:
        values = tuple(float(r) for r in self._rho)
        return values[0] if self.members is None else values

    @rho.setter
    def rho(self, value: float | Sequence[float]) -> None:
        rho = torch.as_tensor(value, dtype=torch.float64).reshape(-1)
        count = 1 if self.members is None else self.members
        if rho.numel() not in {1, count}:
            raise ValueError(f"rho must be one value or one per member ({count}), got {rho.numel()}")
        if (rho < 0).any() or not torch.isfinite(rho).all():
            raise ValueError(f"rho must be non-negative, got {value}")
        self._rho = rho.expand(count).clone()
        self._perturbs = bool(rho.any())

    def _loss_and_gradients(self, closure: Closure, params: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        with torch.enable_grad():
            loss = closure()
        if isinstance(loss, tuple):
            loss, grads = loss
        else:
            grads = torch.autograd.grad(loss.sum(), params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
        if self.reduce is identity_reduce:
            return loss, grads
        flat = self.reduce(torch.cat([g.reshape(-1) for g in grads]))
        return loss, [chunk.view_as(p) for chunk, p in zip(flat.split([p.numel() for p in params]), params)]

    def _norms(self, grads: list[Tensor]) -> Tensor:
        """||g||_2 over all parameters, or per member (``[members]``)."""
        if self.members is None:
            return sum(g.square().sum() for g in grads).reshape(1).sqrt()
        return torch.stack([g.reshape(self.members, -1).square().sum(1) for g in grads]).sum(0).sqrt()

    def _scaled(self, grads: list[Tensor], scale: Tensor) -> list[Tensor]:
        if self.members is None:
            return [g * scale for g in grads]
        return [g * scale.view(-1, *[1] * (g.dim() - 1)) for g in grads]

    @torch.no_grad()
    def ascent(self, grads: list[Tensor]) -> list[Tensor] | None:
        """eps = rho g / ||g|| (per member with ``members``); None where every eps is zero."""
        if not self._perturbs:
            return None
        norms = self._norms(grads)
        rho = self._rho.to(norms.dtype)
        scale = torch.where(norms > 0, rho / norms.clamp_min(torch.finfo(norms.dtype).tiny), 0.0)
        if not scale.any():
            return None
        return self._scaled(grads, scale)

    def step(self, closure: Closure) -> Tensor:  # type: ignore[override]
        """One SAM update; returns the (detached) loss at the unperturbed weights."""
        params = optimizer_params(self.base)
        loss, grads = self._loss_and_gradients(closure, params)
        eps = self.ascent(grads)
        if eps is not None:
            saved = [p.detach().clone() for p in params]
            with torch.no_grad():
                torch._foreach_add_(params, eps)
            try:
                grads = self._loss_and_gradients(closure, params)[1]
            finally:
                with torch.no_grad():
                    torch._foreach_copy_(params, saved)
        if self.max_grad_norm is not None:
            with torch.no_grad():
                grads = self._scaled(grads, (self.max_grad_norm / (self._norms(grads) + 1e-6)).clamp_max(1.0))
        for p, g in zip(params, grads):
            p.grad = g
        self.base.step()
        return loss.detach()
