"""Flat-vector views of a list of parameters.

Trust-region and sharpness-aware updates are written in terms of a single vector theta made
of all actor parameters; these helpers move between that vector and the parameter tensors.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def flat_grad(
    loss: Tensor,
    params: Iterable[Tensor],
    *,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> Tensor:
    """Gradient of a scalar ``loss`` w.r.t. ``params`` as one flat vector.

    Parameters the loss does not depend on contribute zeros, so the layout always matches
    :func:`get_flat_params`. As in ``torch.autograd.grad``, ``retain_graph`` defaults to
    ``create_graph``.
    """
    params = list(params)
    grads = torch.autograd.grad(
        loss, params, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True
    )
    return torch.cat(
        [(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params)]
    )


def get_flat_params(params: Iterable[Tensor]) -> Tensor:
    """A detached copy of the parameters as one flat vector (safe to restore from later)."""
    return torch.cat([p.detach().reshape(-1) for p in params])


def _split(params: list[Tensor], flat: Tensor) -> list[Tensor]:
    sizes = [p.numel() for p in params]
    if flat.numel() != sum(sizes):
        raise ValueError(f"flat vector has {flat.numel()} entries, parameters have {sum(sizes)}")
    return [chunk.view_as(p) for chunk, p in zip(flat.split(sizes), params)]


@torch.no_grad()
def set_flat_params(params: Iterable[Tensor], flat: Tensor) -> None:
    """Copy ``flat`` into the parameters in place (bit-exact for a vector from get_flat_params)."""
    params = list(params)
    for p, value in zip(params, _split(params, flat)):
        p.copy_(value)


@torch.no_grad()
def set_flat_grads(params: Iterable[Tensor], flat: Tensor) -> None:
    """Write ``flat`` into ``p.grad`` of each parameter, so an ordinary optimiser can step on it."""
    params = list(params)
    for p, value in zip(params, _split(params, flat)):
        p.grad = value.detach().clone()


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """The parameters of all groups of ``optimizer``, in order (the flat-vector layout)."""
    return [p for group in optimizer.param_groups for p in group["params"]]
