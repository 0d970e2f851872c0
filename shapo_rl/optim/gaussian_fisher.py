"""The Fisher-vector product of a diagonal Gaussian policy with a tanh-MLP mean, in closed form.

For pi_theta(.|s) = N(mu_theta(s), diag(sigma^2)), sigma = exp(log_std), the Hessian of the mean
KL(pi_old || pi_theta) at theta = theta_old (the Fisher matrix of TRPO's trust region) has two
blocks (the cross terms carry mu - mu_old and vanish there):

    F_mu   = 1 / (N R) sum_s J_s^T diag(1 / sigma^2) J_s     (J_s = d mu(s) / d theta_mean)
    F_logs = diag(2 sigma_old^2 / sigma^2) / R

with R the action dimension for the averaged KL (``reduction="mean"``) and 1 for the summed one.
So F v = J^T M J v: one forward-mode pass through the MLP for J v and one backward pass for
J^T u, both written out on activations kept from a single forward pass. Autograd's double
backward of the KL computes the same product (the terms it adds multiply mu - mu_old) in about
2.5 times the time, because it rebuilds and walks the graph of a gradient at every product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn


def tanh_mlp_layers(mean: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of ``Linear, Tanh, ..., Linear`` (None for any other network)."""
    if not isinstance(mean, nn.Sequential) or len(mean) % 2 == 0:
        return None
    modules = list(mean)
    if not all(isinstance(m, nn.Linear) for m in modules[::2]) or not all(isinstance(m, nn.Tanh) for m in modules[1::2]):
        return None
    return modules[::2]


@torch.no_grad()
def gaussian_fisher_vector_product(
    mean: nn.Sequential,
    log_std: Tensor,
    params: Sequence[Tensor],
    obs: Tensor,
    old_scale: Tensor,
    reduction: str = "sum",
) -> Callable[[Tensor], Tensor] | None:
    """``v -> F v`` for the flat parameter vector of ``params`` (``log_std`` and the MLP's weights
    and biases, in any order), F the Fisher of the mean KL on ``obs`` [N, obs_dim] (module
    docstring); None when the network is not a tanh MLP or ``params`` are not exactly its
    parameters and ``log_std``."""
    layers = tanh_mlp_layers(mean)
    if layers is None:
        return None
    owned = [log_std] + [p for layer in layers for p in (layer.weight, layer.bias)]
    index = {id(p): i for i, p in enumerate(owned)}
    if len(params) != len(owned) or {id(p) for p in params} != set(index) or any(p.grad_fn for p in params):
        return None
    sizes = [p.numel() for p in params]
    acts = [obs]  # the input of every layer: obs, then tanh(z_1), tanh(z_2), ...
    for layer in layers[:-1]:
        acts.append(torch.tanh(torch.addmm(layer.bias, acts[-1], layer.weight.T)))
    derivs = [None] + [1 - h * h for h in acts[1:]]  # tanh'(z_i) = 1 - tanh(z_i)^2
    divisor = (old_scale.shape[-1] if reduction == "mean" else 1)
    inv_var = torch.exp(-2 * log_std.detach())
    m_mu = inv_var / (obs.shape[0] * divisor)  # per action dimension
    m_log_std = 2 * old_scale.reshape(-1, old_scale.shape[-1]).pow(2).mean(0) * inv_var / divisor

    @torch.no_grad()  # the outer decorator ends with this function's return, not with fvp's calls
    def fvp(v: Tensor) -> Tensor:
        chunks = dict(zip((id(p) for p in params), v.detach().split(sizes)))
        tangents = [chunks[id(p)].view_as(p) for p in owned]
        d_log_std, d_layers = tangents[0], tangents[1:]
        # J v: z_i = h_{i-1} W_i^T + b_i, so dz_i = dh_{i-1} W_i^T + h_{i-1} dW_i^T + db_i, dh_i = tanh'(z_i) dz_i
        dz = None
        for i, layer in enumerate(layers):
            d_weight, d_bias = d_layers[2 * i], d_layers[2 * i + 1]
            dz_i = torch.addmm(d_bias, acts[i], d_weight.T)
            if dz is not None:
                dz_i.addmm_(dz * derivs[i], layer.weight.T)
            dz = dz_i
        # J^T (M J v), back through the layers
        g = dz * m_mu
        out = [None] * len(owned)
        out[0] = d_log_std * m_log_std
        for i in range(len(layers) - 1, -1, -1):
            out[1 + 2 * i] = g.T @ acts[i]
            out[2 + 2 * i] = g.sum(0)
            if i > 0:
                g = (g @ layers[i].weight) * derivs[i]
        return torch.cat([out[index[id(p)]].reshape(-1) for p in params])

    return fvp
