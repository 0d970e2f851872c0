import math

import pytest
import torch
from torch import Tensor

from shapo_rl.optim import SAM, euclidean_perturbation, sharpness_aware_gradient


def test_euclidean_perturbation_norm_is_rho() -> None:
    g = torch.randn(40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    eps = euclidean_perturbation(g, 0.05)
    assert float(eps.norm()) == pytest.approx(0.05, rel=1e-14)
    assert float(eps.dot(g)) == pytest.approx(0.05 * float(g.norm()), rel=1e-14)
    assert torch.equal(euclidean_perturbation(torch.zeros(4), 0.05), torch.zeros(4))
    with pytest.raises(ValueError, match="non-negative"):
        euclidean_perturbation(g, -1.0)


def least_squares(seed: int) -> tuple[Tensor, Tensor, torch.nn.Linear]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 4, dtype=torch.float64, generator=gen)
    y = torch.randn(20, 1, dtype=torch.float64, generator=gen)
    model = torch.nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, 4, dtype=torch.float64, generator=gen))
    return x, y, model


def test_sam_step_uses_the_gradient_at_the_ascent_point() -> None:
    x, y, model = least_squares(0)
    rho, lr = 0.05, 0.1
    w = model.weight.detach().clone().reshape(-1)

    def grad(v: Tensor) -> Tensor:  # d/dw mean((x w - y)^2) = 2/n x^T (x w - y)
        return 2 / len(x) * x.T @ (x @ v - y.reshape(-1))

    g = grad(w)
    g_sam = grad(w + rho * g / g.norm())
    opt = SAM(model.parameters(), torch.optim.SGD, rho=rho, lr=lr)
    loss = opt.step(lambda: ((model(x) - y) ** 2).mean())
    assert loss == pytest.approx(float(((x @ w - y.reshape(-1)) ** 2).mean()), rel=1e-14)
    torch.testing.assert_close(model.weight.grad.reshape(-1), g_sam, rtol=1e-13, atol=1e-13)
    new_w = model.weight.detach().reshape(-1)
    torch.testing.assert_close(new_w, w - lr * g_sam, rtol=1e-13, atol=1e-13)
    assert not torch.allclose(g_sam, g)


def test_sam_with_rho_zero_is_exactly_the_base_optimizer() -> None:
    x, y, plain_model = least_squares(1)
    _, _, sam_model = least_squares(1)
    plain = torch.optim.Adam(plain_model.parameters(), lr=1e-2)
    sam = SAM(sam_model.parameters(), torch.optim.Adam, rho=0.0, lr=1e-2)
    for _ in range(5):
        plain.zero_grad()
        ((plain_model(x) - y) ** 2).mean().backward()
        plain.step()
        sam.step(lambda: ((sam_model(x) - y) ** 2).mean())
    assert torch.equal(plain_model.weight, sam_model.weight)
    sam.rho = 0.05
    sam.step(lambda: ((sam_model(x) - y) ** 2).mean())
    assert sam.radius == 0.05 and not torch.equal(plain_model.weight, sam_model.weight)


def test_sam_validates_rho() -> None:
    with pytest.raises(ValueError, match="rho"):
        SAM([torch.zeros(1, requires_grad=True)], rho=-0.1)


def test_perturbation_without_kl_fn_restores_weights_bit_exactly() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    before = [p.detach().clone() for p in net.parameters()]
    _, g_sam, info = sharpness_aware_gradient(
        lambda: ((net(x) - y) ** 2).mean(), net.parameters(), geometry="euclidean", radius=0.5
    )
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
    assert math.isnan(info.kl) and info.loss_drop > 0 and g_sam.any()
    SAM(net.parameters(), torch.optim.SGD, rho=0.5, lr=0.0).step(lambda: ((net(x) - y) ** 2).mean())
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
