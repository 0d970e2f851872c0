import pytest
import torch
from torch import Tensor

from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.algorithms.protocol import UpdateBatch
from shapo_rl.config import TrainConfig
from shapo_rl.models import StackedMLP, mlp
from shapo_rl.optim import SAM, NonFiniteError, euclidean_perturbation
from shapo_rl.training import resolve


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
    assert sam.rho == 0.05 and not torch.equal(plain_model.weight, sam_model.weight)


def test_sam_validates_rho() -> None:
    with pytest.raises(ValueError, match="rho"):
        SAM([torch.zeros(1, requires_grad=True)], rho=-0.1)
    with pytest.raises(ValueError, match="one per member"):
        SAM([torch.zeros(1, requires_grad=True)], rho=[0.1, 0.2])
    with pytest.raises(ValueError, match="one per member"):
        SAM([torch.zeros(3, 2, requires_grad=True)], rho=[0.1, 0.2], members=3)


def stacked_critics(seed: int) -> tuple[Tensor, Tensor, StackedMLP, list[torch.nn.Sequential]]:
    """A float64 StackedMLP of 2 members, the same two critics as separate MLPs, and data."""
    torch.manual_seed(seed)
    stacked = StackedMLP(3, [8, 8], members=2).double()
    separate = [mlp(3, 1, [8, 8]).double() for _ in range(2)]
    with torch.no_grad():
        for m, net in enumerate(separate):
            linears = [layer for layer in net if isinstance(layer, torch.nn.Linear)]
            for linear, weight, bias in zip(linears, stacked.weights, stacked.biases):
                linear.weight.copy_(weight[m].T)
                linear.bias.copy_(bias[m, 0])
    x = torch.randn(32, 3, dtype=torch.float64)
    y = torch.randn(32, 2, dtype=torch.float64)
    return x, y, stacked, separate


def test_stacked_mlp_members_are_the_separate_mlps() -> None:
    x, _, stacked, separate = stacked_critics(0)
    out = stacked(x.reshape(4, 8, 3))
    assert out.shape == (4, 8, 2)
    for m, net in enumerate(separate):
        torch.testing.assert_close(out[..., m].reshape(-1), net(x).reshape(-1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rho", [(0.05, 0.2), (0.05, 0.0)])
def test_per_member_sam_equals_one_sam_step_per_critic(rho: tuple[float, float]) -> None:
    """Members' ascent norms are their own: the stacked step equals a separate SAM step (or, at
    radius 0, a plain Adam step) on each critic, and every eps_i has norm rho_i."""
    x, y, stacked, separate = stacked_critics(1)
    sam = SAM(stacked.parameters(), torch.optim.Adam, rho=rho, members=2, lr=1e-2)
    grads = torch.autograd.grad((stacked(x) - y).square().mean(0).sum(), list(stacked.parameters()))
    eps = sam.ascent(list(grads))
    for m, r in enumerate(rho):
        norm = torch.cat([e[m].reshape(-1) for e in eps]).norm()
        assert float(norm) == pytest.approx(r, rel=1e-12, abs=1e-15)
    loss = sam.step(lambda: (stacked(x) - y).square().mean(0))
    for m, (r, net) in enumerate(zip(rho, separate)):
        assert float(loss[m]) == pytest.approx(float((net(x)[:, 0] - y[:, m]).square().mean()), rel=1e-12)
        single = SAM(net.parameters(), torch.optim.Adam, rho=r, lr=1e-2)
        single.step(lambda: (net(x)[:, 0] - y[:, m]).square().mean())
    out = stacked(x)
    for m, net in enumerate(separate):
        torch.testing.assert_close(out[:, m], net(x)[:, 0], rtol=1e-10, atol=1e-12)
    plain = SAM(stacked.parameters(), torch.optim.SGD, rho=(0.0, 0.0), members=2, lr=0.5)
    params = list(stacked.parameters())
    expected = [p.detach() - 0.5 * g for p, g in zip(params, torch.autograd.grad(
        (stacked(x) - y).square().mean(0).sum(), params))]
    plain.step(lambda: (stacked(x) - y).square().mean(0))  # radius 0: one pass, w - lr g
    assert all(torch.equal(p, e) for p, e in zip(params, expected))


def autograd_squared_error_gradients(net: StackedMLP, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    loss = (net(x) - y).square().mean(0)
    return loss.detach(), list(torch.autograd.grad(loss.sum(), list(net.parameters())))


@pytest.mark.parametrize("hidden, members", [((64, 64), 2), ((16,), 3), ((8, 8, 8), 1)])
@pytest.mark.parametrize("batch", [128, 72, 32, 1])
def test_hand_derived_critic_gradients_are_autograds_bit_for_bit(hidden, members, batch) -> None:
    """float32 as trained, odd minibatch sizes (the last one of a pass) included."""
    torch.manual_seed(batch)
    net = StackedMLP(11, hidden, members)
    x, y = torch.randn(batch, 11), 30 * torch.randn(batch, members)
    loss, grads = net.squared_error_gradients(x, y)
    expected_loss, expected = autograd_squared_error_gradients(net, x, y)
    assert torch.equal(loss, expected_loss)
    assert [g.shape for g in grads] == [p.shape for p in net.parameters()]
    assert all(torch.equal(g, e) for g, e in zip(grads, expected))


def test_hand_derived_critic_gradients_match_autograd_in_float64() -> None:
    x, y, stacked, _ = stacked_critics(3)
    loss, grads = stacked.squared_error_gradients(x, y)
    expected_loss, expected = autograd_squared_error_gradients(stacked, x, y)
    torch.testing.assert_close(loss, expected_loss, rtol=1e-12, atol=0)
    for g, e in zip(grads, expected):
        torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("rho", [(0.05, 0.2), (0.0, 0.0)])
def test_sam_step_on_given_gradients_is_the_step_on_the_autograd_closure(rho) -> None:
    """A closure returning (loss, gradients) steps exactly as the differentiable loss does: the
    ascent, the restore and the per-member clip (binding here) included."""
    torch.manual_seed(4)
    nets = [StackedMLP(11, (64, 64), 2) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    x, y = torch.randn(72, 11), 30 * torch.randn(72, 2)
    hand, auto = (SAM(net.parameters(), torch.optim.Adam, rho=rho, members=2, max_grad_norm=1.0, lr=1e-3,
                      weight_decay=2e-3, fused=True) for net in nets)
    for _ in range(3):
        loss = hand.step(lambda: nets[0].squared_error_gradients(x, y))
        expected = auto.step(lambda: (nets[1](x) - y).square().mean(0))
        assert torch.equal(loss, expected)
    assert all(torch.equal(p, q) for p, q in zip(nets[0].parameters(), nets[1].parameters()))


def _random_batch(n: int) -> UpdateBatch:
    """``n`` random ToyCMDP-sized states with random reward and cost targets."""
    return UpdateBatch(torch.randn(n, 3), torch.randn(n, 1), torch.zeros(n), torch.zeros(n, 1), torch.ones(n, 1),
                       torch.zeros(n), torch.zeros(n), torch.randn(n, 1), torch.randn(n, 1), 0.0, 1.0)


def _regression_data(batch: UpdateBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a critic regression starts from: the states and both critics' targets."""
    return batch.obs, batch.reward_target, batch.cost_target


def _module_and_critic_optimizer(**sam) -> tuple[SafePolicyOptimization, SAM]:
    """A module on ToyCMDP's dimensions and SAM over its critics (plain Adam unless ``sam`` says)."""
    config = resolve(TrainConfig(algo="trpo", env="ToyCMDP-v0", steps=200, steps_per_epoch=200))
    module = SafePolicyOptimization(config, obs_dim=3, act_dim=1, cost_limit=1.0)
    settings = {"rho": (0.0, 0.0), "lr": 1e-3, **sam}
    return module, SAM(module.critics.parameters(), torch.optim.Adam, members=2, **settings)


@pytest.mark.parametrize("background", [False, True])
def test_a_non_finite_critic_loss_stops_the_regression(background) -> None:
    """In place or in the child, the regression's error reaches the caller at ``join``, after
    which a regression can start again."""
    module, critics = _module_and_critic_optimizer()
    batch = _random_batch(300)
    batch.cost_target[7] = float("inf")
    regression = module.critic_regression
    regression.start(*_regression_data(batch), critics, background=background)
    assert regression.running == background
    with pytest.raises(NonFiniteError, match="critic loss"):
        regression.join()
    assert not regression.running
    regression.start(*_regression_data(batch), critics, background=background)  # joined: a new one may start
    with pytest.raises(NonFiniteError):
        regression.join()
    regression.close()


def test_a_critic_regression_in_the_child_process_is_the_one_in_place() -> None:
    """Same shuffles (drawn at ``start`` from the global generator, which is left where the
    in-place run leaves it), same losses, weights and optimiser state, bit for bit, over two
    regressions (the second from the Adam moments of the first), SAM and the clip included."""
    torch.manual_seed(3)
    batch = _random_batch(1000)
    outcomes = []
    for background in (False, True):
        torch.manual_seed(0)
        module, critics = _module_and_critic_optimizer(rho=(0.05, 0.0), lr=3e-3, weight_decay=1e-3,
                                                       max_grad_norm=0.5, fused=True)
        draws = []
        for _ in range(2):
            module.critic_regression.start(*_regression_data(batch), critics, background=background)
            draws.append(torch.rand(3))  # the caller's next draw, made while the child may still run
            losses = module.critic_regression.join()
        module.critic_regression.close()
        moments = [critics.state[p]["exp_avg_sq"].clone() for p in module.critics.parameters()]
        outcomes.append((losses, draws, [p.clone() for p in module.critics.parameters()], moments))
    (losses, draws, weights, moments), (losses_bg, draws_bg, weights_bg, moments_bg) = outcomes
    assert losses == losses_bg and all(torch.equal(a, b) for a, b in zip(draws, draws_bg))
    assert all(torch.equal(a, b) for a, b in zip(weights, weights_bg))
    assert all(torch.equal(a, b) for a, b in zip(moments, moments_bg))


def test_a_critic_regression_must_be_joined_before_the_next() -> None:
    module, critics = _module_and_critic_optimizer()
    batch = _random_batch(200)
    module.critic_regression.start(*_regression_data(batch), critics, background=True)
    with pytest.raises(RuntimeError, match="not joined"):
        module.critic_regression.start(*_regression_data(batch), critics, background=True)
    module.critic_regression.join()
    module.critic_regression.close()


def test_a_critic_regression_process_that_dies_is_one_clear_error() -> None:
    module, critics = _module_and_critic_optimizer()
    regression = module.critic_regression
    regression.launch()
    regression._child._process.kill()
    regression.start(*_regression_data(_random_batch(200)), critics, background=True)
    with pytest.raises(RuntimeError, match="critic regression process died"):
        regression.join()
    regression.close()
