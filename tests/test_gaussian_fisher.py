"""The closed-form Fisher-vector product J^T M J v of a Gaussian policy with a tanh-MLP mean
against autograd's double backward of the mean KL, in float64: the products, a CG solve on them
and a TRPO step agree to 1e-10; any other network or parameter list falls back to autograd."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from shapo_rl.algorithms.losses import AnchoredKL
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim.conjugate_gradient import conjugate_gradient
from shapo_rl.optim.fisher import fisher_vector_product


def _anchored(hidden, obs_dim=9, act_dim=3, n=400, reduction="mean", seed=0):
    torch.manual_seed(seed)
    policy = GaussianPolicy(obs_dim, act_dim, hidden, init_log_std=-0.4).double()
    with torch.no_grad():
        policy.log_std.add_(torch.linspace(-0.3, 0.3, act_dim, dtype=torch.float64))
    obs = 3 * torch.randn(n, obs_dim, dtype=torch.float64)
    with torch.no_grad():
        loc, scale = policy(obs)
    return policy, AnchoredKL(policy, obs, loc, scale, reduction=reduction)


@pytest.mark.parametrize("hidden", [(64, 64), (16,), (32, 8, 16)])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_closed_form_products_are_autograds_double_backward(hidden, reduction):
    policy, kl = _anchored(hidden, reduction=reduction)
    params = list(policy.parameters())
    ours = fisher_vector_product(kl, params, damping=0.1)
    theirs = fisher_vector_product(kl, params, damping=0.1, closed_form=False)
    dim = sum(p.numel() for p in params)
    for i in range(4):
        v = torch.randn(dim, dtype=torch.float64, generator=torch.Generator().manual_seed(i))
        a, b = ours(v), theirs(v)
        assert not a.requires_grad  # no graph is built across CG's products
        assert (a - b).norm() <= 1e-10 * b.norm(), float((a - b).norm() / b.norm())
    # F is positive semi-definite and its log-std block is 2 sigma_old^2 / sigma^2 / R = 2 / R here
    e = torch.zeros(dim, dtype=torch.float64)
    e[0] = 1.0  # log_std comes first in parameters()
    expected = 2.0 / (3 if reduction == "mean" else 1)
    assert ours(e)[0].item() == pytest.approx(expected + 0.1, rel=1e-12)


def test_a_cg_solve_and_its_step_agree_to_1e_10():
    policy, kl = _anchored((64, 64), n=2000)
    params = list(policy.parameters())
    g = torch.randn(sum(p.numel() for p in params), dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    steps = []
    for closed in (True, False):
        fvp = fisher_vector_product(kl, params, damping=0.1, closed_form=closed)
        x = conjugate_gradient(fvp, g, iters=15)
        steps.append(math.sqrt(2 * 0.01 / float(x @ fvp(x))) * x)
    assert (steps[0] - steps[1]).norm() <= 1e-10 * steps[1].norm()


def test_parameters_in_any_order_map_to_their_own_entries():
    policy, kl = _anchored((8, 8))
    params = list(policy.parameters())
    shuffled = params[::-1]
    v = torch.randn(sum(p.numel() for p in params), dtype=torch.float64)
    ours = fisher_vector_product(kl, shuffled, damping=0.0)(v)
    theirs = fisher_vector_product(kl, shuffled, damping=0.0, closed_form=False)(v)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_other_networks_and_parameter_lists_fall_back_to_autograd():
    policy, kl = _anchored((8, 8))
    params = list(policy.parameters())
    assert kl.fisher_product(params) is not None
    assert kl.fisher_product(params[1:]) is None  # log_std left out
    policy.mean[1] = nn.ReLU()
    assert kl.fisher_product(params) is None
    v = torch.randn(sum(p.numel() for p in params), dtype=torch.float64)
    torch.testing.assert_close(fisher_vector_product(kl, params)(v),
                               fisher_vector_product(kl, params, closed_form=False)(v), rtol=0, atol=0)


def test_the_closed_form_is_a_float32_product_within_rounding_of_autograds():
    """The runs' own precision: the two agree to float32 rounding (1e-5 of the product's norm)."""
    policy, kl = _anchored((64, 64))
    policy.float()
    kl = AnchoredKL(policy, kl.obs.float(), kl.old_loc.float(), kl.old_scale.float(), "mean")
    params = list(policy.parameters())
    v = torch.randn(sum(p.numel() for p in params))
    a = fisher_vector_product(kl, params)(v)
    b = fisher_vector_product(kl, params, closed_form=False)(v)
    assert (a - b).norm() <= 1e-5 * b.norm()
