import pytest
import torch

from shapo_rl.optim import (
    conjugate_gradient,
    flat_grad,
    get_flat_params,
    set_flat_grads,
    set_flat_params,
)


@pytest.mark.parametrize("seed", range(3))
def test_conjugate_gradient_matches_dense_solve(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    m = torch.randn(12, 12, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=gen, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=40, residual_tol=1e-28)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-9, atol=1e-9)


def test_conjugate_gradient_zero_rhs_is_zero() -> None:
    x = conjugate_gradient(lambda v: 2 * v, torch.zeros(5))
    assert torch.equal(x, torch.zeros(5))


def test_flat_params_round_trip_is_bit_exact() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    params = list(net.parameters())
    saved = get_flat_params(params)
    originals = [p.detach().clone() for p in params]
    assert saved.shape == (sum(p.numel() for p in params),)
    set_flat_params(params, saved + 0.1 * torch.randn_like(saved))
    assert not torch.equal(params[0], originals[0])
    set_flat_params(params, saved)
    assert all(torch.equal(p, o) for p, o in zip(params, originals))
    saved.zero_()  # the saved vector is a copy, not a view
    assert all(torch.equal(p, o) for p, o in zip(params, originals))


def test_set_flat_params_rejects_wrong_size() -> None:
    with pytest.raises(ValueError, match="entries"):
        set_flat_params([torch.zeros(3)], torch.zeros(4))


def test_flat_grad_layout_and_unused_parameters() -> None:
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    unused = torch.ones(2, 2, requires_grad=True)
    v = torch.tensor(3.0, requires_grad=True)
    g = flat_grad((w**2).sum() * v, [w, unused, v])
    assert torch.equal(g, torch.tensor([6.0, 12.0, 0.0, 0.0, 0.0, 0.0, 5.0]))
    set_flat_grads([w, unused, v], g)
    assert torch.equal(unused.grad, torch.zeros(2, 2)) and torch.equal(v.grad, torch.tensor(5.0))
