"""Fisher products, trust-region steps and SHAPO perturbations on a small Gaussian policy."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call

from shapo_rl.optim import (
    NonFiniteError,
    SharpnessAwareGradient,
    TrustRegionOptimizer,
    backtracking_line_search,
    fisher_vector_product,
    flat_grad,
    get_flat_params,
    improves_within,
    natural_gradient_step,
    set_flat_grads,
    sharpness_aware_gradient,
)


class GaussianPolicy(nn.Module):
    """tanh MLP mean and a state-independent log-std."""

    def __init__(self, obs_dim: int = 3, act_dim: int = 2, hidden: int = 8) -> None:
        super().__init__()
        self.mean = nn.Sequential(nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, act_dim))
        self.log_std = nn.Parameter(torch.full((act_dim,), -0.5))

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        return self.mean(obs), self.log_std.expand(obs.shape[0], -1)


def gaussian_kl(mu0: Tensor, log_std0: Tensor, mu1: Tensor, log_std1: Tensor) -> Tensor:
    """KL(N(mu0, s0^2) || N(mu1, s1^2)) of diagonal Gaussians, summed over action dimensions."""
    var0, var1 = (2 * log_std0).exp(), (2 * log_std1).exp()
    return (log_std1 - log_std0 + (var0 + (mu0 - mu1) ** 2) / (2 * var1) - 0.5).sum(-1)


def log_prob(mu: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    return torch.distributions.Normal(mu, log_std.exp()).log_prob(actions).sum(-1)


@dataclass
class Problem:
    policy: GaussianPolicy
    obs: Tensor
    actions: Tensor
    adv: Tensor
    old_mu: Tensor
    old_log_std: Tensor
    old_logp: Tensor

    def params(self) -> list[Tensor]:
        return list(self.policy.parameters())

    def closure(self, idx: Tensor | slice = slice(None)) -> Tensor:
        mu, log_std = self.policy(self.obs[idx])
        ratio = (log_prob(mu, log_std, self.actions[idx]) - self.old_logp[idx]).exp()
        return -(ratio * self.adv[idx]).mean()

    def kl_fn(self, idx: Tensor | slice = slice(None)) -> Tensor:
        mu, log_std = self.policy(self.obs[idx])
        return gaussian_kl(self.old_mu[idx], self.old_log_std[idx], mu, log_std).mean()

    def kl_of_flat(self, flat: Tensor) -> Tensor:
        """The same KL as a function of the flat parameter vector (for dense Hessians)."""
        named = dict(self.policy.named_parameters())
        chunks = flat.split([p.numel() for p in named.values()])
        values = {n: c.view_as(p) for (n, p), c in zip(named.items(), chunks)}
        mu, log_std = functional_call(self.policy, values, (self.obs,))
        return gaussian_kl(self.old_mu, self.old_log_std, mu, log_std).mean()


def make_problem(seed: int, n: int = 64) -> Problem:
    torch.manual_seed(seed)
    policy = GaussianPolicy().double()
    obs = torch.randn(n, 3, dtype=torch.float64)
    with torch.no_grad():
        mu, log_std = policy(obs)
        actions = mu + log_std.exp() * torch.randn_like(mu)
        old_logp = log_prob(mu, log_std, actions)
    adv = torch.randn(n, dtype=torch.float64)
    return Problem(policy, obs, actions, adv, mu, log_std.detach().clone(), old_logp)


def dense_fisher(problem: Problem) -> Tensor:
    theta = get_flat_params(problem.params())
    return torch.autograd.functional.hessian(problem.kl_of_flat, theta)


def params_equal(a: list[Tensor], b: list[Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def snapshot(problem: Problem) -> list[Tensor]:
    return [p.detach().clone() for p in problem.params()]


# --- Fisher-vector products -------------------------------------------------------------------


@pytest.mark.parametrize("moved", [False, True])
def test_fisher_vector_product_matches_dense_hessian(moved: bool) -> None:
    problem = make_problem(0)
    if moved:  # away from theta_old the product is still the KL Hessian there
        with torch.no_grad():
            for p in problem.params():
                p.add_(0.05 * torch.randn_like(p))
    calls = []

    def kl_fn() -> Tensor:
        calls.append(1)
        return problem.kl_fn()

    fvp = fisher_vector_product(kl_fn, problem.params(), damping=0.1)
    hessian = dense_fisher(problem)
    for _ in range(3):
        v = torch.randn(hessian.shape[0], dtype=torch.float64)
        torch.testing.assert_close(fvp(v), hessian @ v + 0.1 * v, rtol=1e-10, atol=1e-12)
    assert len(calls) == 1  # the KL gradient graph is built once and reused


def test_fisher_vector_product_applies_reduce() -> None:
    problem = make_problem(1)
    plain = fisher_vector_product(problem.kl_fn, problem.params(), damping=0.0)
    doubled = fisher_vector_product(
        problem.kl_fn, problem.params(), damping=0.0, reduce=lambda x: 2 * x
    )
    v = torch.randn(get_flat_params(problem.params()).numel(), dtype=torch.float64)
    torch.testing.assert_close(doubled(v), 2 * plain(v))


# --- Lemma 4 natural-gradient step ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_natural_gradient_step_solves_the_kl_constrained_qp(seed: int) -> None:
    problem = make_problem(seed)
    damping, delta = 0.01, 0.01
    fisher = dense_fisher(problem)
    fisher += damping * torch.eye(fisher.shape[0], dtype=torch.float64)
    g = flat_grad(problem.closure(), problem.params())
    fvp = fisher_vector_product(problem.kl_fn, problem.params(), damping=damping)
    step, x = natural_gradient_step(g, fvp, delta, cg_iters=100, residual_tol=1e-24)
    f_inv_g = torch.linalg.solve(fisher, g)
    expected = torch.sqrt(2 * delta / g.dot(f_inv_g)) * f_inv_g
    torch.testing.assert_close(x, f_inv_g, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(step, expected, rtol=1e-7, atol=1e-9)
    assert 0.5 * step @ fisher @ step == pytest.approx(delta, rel=1e-9)


def test_natural_gradient_step_guards() -> None:
    g = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="curvature"):
        natural_gradient_step(g, lambda v: -v, 0.01)
    with pytest.raises(NonFiniteError, match="gradient"):
        natural_gradient_step(torch.tensor([1.0, float("nan")]), lambda v: v, 0.01)
    with pytest.raises(NonFiniteError, match="curvature"):
        natural_gradient_step(g, lambda v: v * float("inf"), 0.01)
    step, x = natural_gradient_step(torch.zeros(3), lambda v: v, 0.01)
    assert not step.any() and not x.any()


# --- trust-region optimiser -------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_trust_region_step_improves_within_the_kl_bound(seed: int) -> None:
    problem = make_problem(seed)
    max_kl = 0.01
    opt = TrustRegionOptimizer(problem.policy.parameters(), max_kl=max_kl)
    with torch.no_grad():
        loss_before = float(problem.closure())
    # keyword form, as Lightning's LightningOptimizer calls it
    info = opt.step(closure=problem.closure, kl_fn=problem.kl_fn)
    assert info.accepted
    with torch.no_grad():
        kl, loss_after = float(problem.kl_fn()), float(problem.closure())
    assert kl <= max_kl and loss_after < loss_before
    assert info.loss_before == pytest.approx(loss_before, abs=0) and info.loss_after == loss_after
    assert info.kl == kl and info.step_norm > 0 and info.grad_norm > 0


def test_rejected_trust_region_step_leaves_parameters_bit_identical() -> None:
    problem = make_problem(0)
    before = snapshot(problem)
    opt = TrustRegionOptimizer(problem.policy.parameters(), max_kl=0.01)
    ascent = -flat_grad(problem.closure(), problem.params())  # steps along +grad: loss only rises
    info = opt.step(problem.closure, problem.kl_fn, grad=ascent)
    assert not info.accepted and info.backtracks == 15 and info.step_norm == 0.0
    assert params_equal(problem.params(), before)


def test_line_search_takes_the_first_admissible_fraction() -> None:
    w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    step = torch.tensor([1.0, 0.0], dtype=torch.float64)

    def evaluate() -> tuple[Tensor, Tensor]:  # loss improves only once |w| < 0.7; kl = |w|^2
        return torch.tensor(-1.0 if w[0] < 0.7 else 1.0), (w**2).sum()

    result = backtracking_line_search([w], step, evaluate, improves_within(0.0, 1.0), ratio=0.8)
    assert result.accepted and result.steps_taken == 2 and result.step_fraction == 0.8**2
    assert result.values == (-1.0, pytest.approx(0.8**4))
    assert torch.equal(w.detach(), 0.8**2 * step)
    result = backtracking_line_search([w], step, evaluate, improves_within(0.0, 0.1), max_iters=5)
    assert not result.accepted and result.steps_taken == 5
    assert torch.equal(w.detach(), 0.8**2 * step)


# --- SHAPO perturbation on the policy ---------------------------------------------------------


def test_fisher_perturbation_stays_in_the_kl_ball_and_restores_parameters() -> None:
    gen = torch.Generator().manual_seed(123)
    for case in range(24):
        problem = make_problem(100 + case, n=32)
        radius = 10 ** float(torch.empty(1).uniform_(-6, -2, generator=gen))
        before = snapshot(problem)
        g, g_shapo, info = sharpness_aware_gradient(
            problem.closure, problem.params(), geometry="fisher", radius=radius, kl_fn=problem.kl_fn
        )
        assert params_equal(problem.params(), before)
        assert 0 < info.kl <= radius * (1 + 1e-9), (case, radius, info)
        assert info.norm > 0 and info.radius == radius and not torch.equal(g, g_shapo)
        assert info.loss_drop > 0  # the neighbour is pessimistic: the surrogate loss got worse


def test_euclidean_perturbation_has_norm_rho() -> None:
    problem = make_problem(7)
    before = snapshot(problem)
    _, _, info = sharpness_aware_gradient(
        problem.closure, problem.params(), geometry="euclidean", radius=0.03, kl_fn=problem.kl_fn
    )
    assert info.norm == pytest.approx(0.03, rel=1e-12) and info.kl > 0 and info.backtracks == 0
    assert params_equal(problem.params(), before)


def test_radius_zero_reproduces_the_trust_region_update_exactly() -> None:
    a, b = make_problem(3), copy.deepcopy(make_problem(3))
    TrustRegionOptimizer(a.policy.parameters()).step(a.closure, a.kl_fn)
    gradient = SharpnessAwareGradient(b.params(), "fisher", radius=0.0).step(b.closure, b.kl_fn)
    assert gradient.perturbation.norm == 0.0 and gradient.perturbation.cosine == pytest.approx(1.0)
    info = TrustRegionOptimizer(b.policy.parameters()).step(b.closure, b.kl_fn, grad=gradient.grad)
    assert info.accepted and params_equal(a.params(), b.params())


def test_no_geometry_gives_the_plain_gradient_without_diagnostics() -> None:
    problem = make_problem(4)
    gradient = SharpnessAwareGradient(problem.params(), "none", radius=1e-3).step(problem.closure, problem.kl_fn)
    assert gradient.perturbation is None
    assert torch.equal(gradient.grad, flat_grad(problem.closure(), problem.params()))
    assert gradient.loss == float(problem.closure())
    with pytest.raises(ValueError, match="geometry"):
        SharpnessAwareGradient(problem.params(), "sphere")  # type: ignore[arg-type]


def test_shapo_trust_region_uses_g_shapo_at_theta() -> None:
    a, b = make_problem(5), copy.deepcopy(make_problem(5))
    _, g_shapo, _ = sharpness_aware_gradient(
        a.closure, a.params(), geometry="fisher", radius=1e-3, kl_fn=a.kl_fn
    )
    expected = TrustRegionOptimizer(a.policy.parameters()).step(a.closure, a.kl_fn, grad=g_shapo)
    gradient = SharpnessAwareGradient(b.params(), "fisher", 1e-3).step(b.closure, b.kl_fn)
    info = TrustRegionOptimizer(b.policy.parameters()).step(b.closure, b.kl_fn, grad=gradient.grad)
    assert info == expected and info.accepted and gradient.perturbation.kl <= 1e-3 * (1 + 1e-9)
    assert params_equal(a.params(), b.params())


def test_parameters_bit_identical_when_the_trust_region_rejects_its_step() -> None:
    problem = make_problem(6)
    before = snapshot(problem)
    calls = []

    def never_improving() -> Tensor:  # same gradient, but each evaluation reads 1 higher
        calls.append(1)
        return problem.closure() + len(calls)

    gradient = SharpnessAwareGradient(problem.params(), "fisher", 1e-3).step(never_improving, problem.kl_fn)
    info = TrustRegionOptimizer(problem.policy.parameters()).step(never_improving, problem.kl_fn, grad=gradient.grad)
    assert not info.accepted and gradient.perturbation.norm > 0
    assert params_equal(problem.params(), before)


def test_ppo_minibatch_shapo_with_adam() -> None:
    """Algorithm 4: perturb on each minibatch's Fisher, gradient at theta + eps, Adam step."""
    problem = make_problem(8, n=128)
    radius = 1e-3
    params = problem.params()
    adam = torch.optim.Adam(params, lr=3e-3)
    shapo = SharpnessAwareGradient(params, "fisher", radius)
    with torch.no_grad():
        full_before = float(problem.closure())

    for _ in range(2):
        for idx in torch.randperm(128).split(32):
            def clipped_loss(idx: Tensor = idx) -> Tensor:
                mu, log_std = problem.policy(problem.obs[idx])
                ratio = (log_prob(mu, log_std, problem.actions[idx]) - problem.old_logp[idx]).exp()
                adv = problem.adv[idx]
                return -torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()

            with torch.no_grad():  # the KL ball is centred on the current policy, not pi_old
                anchor_mu, anchor_log_std = problem.policy(problem.obs[idx])

            def kl_from_current(idx: Tensor = idx) -> Tensor:
                mu, log_std = problem.policy(problem.obs[idx])
                return gaussian_kl(anchor_mu, anchor_log_std, mu, log_std).mean()

            before = snapshot(problem)
            gradient = shapo.step(clipped_loss, kl_from_current)
            assert params_equal(problem.params(), before)
            info = gradient.perturbation
            assert 0 < info.kl <= radius * (1 + 1e-9) and info.loss_drop > 0
            set_flat_grads(params, gradient.grad)
            adam.step()
            assert not params_equal(problem.params(), before)
    with torch.no_grad():
        assert float(problem.closure()) < full_before


def test_radius_can_change_between_steps() -> None:
    problem = make_problem(9)
    shapo = SharpnessAwareGradient(problem.params(), "euclidean", 1e-2)
    assert math.isclose(shapo.step(problem.closure).perturbation.norm, 1e-2, rel_tol=1e-12)
    shapo.radius = 5e-3
    assert math.isclose(shapo.step(problem.closure).perturbation.norm, 5e-3, rel_tol=1e-12)


# --- KL checks that only fire where the KL is far from its quadratic model -------------------
# KL + k KL^2 has the Fisher of KL at theta_old (KL and its gradient vanish there), so the
# natural-gradient step and the perturbation's eps0 are unchanged, while their true "KL" is larger.


def inflated_kl(problem: Problem, factor: float):
    def kl_fn() -> Tensor:
        kl = problem.kl_fn()
        return kl + factor * kl**2

    return kl_fn


def test_trust_region_rejects_candidates_whose_kl_exceeds_the_radius() -> None:
    problem = make_problem(11)
    assert TrustRegionOptimizer(problem.policy.parameters()).step(problem.closure, problem.kl_fn).backtracks == 0
    problem = make_problem(11)
    info = TrustRegionOptimizer(problem.policy.parameters()).step(problem.closure, inflated_kl(problem, 2e3))
    assert info.accepted and info.backtracks > 0 and info.kl <= 0.01


def test_perturbation_backtracks_into_its_kl_ball_and_gives_up_with_eps_zero() -> None:
    radius = 1e-3
    problem = make_problem(12)
    _, _, info = sharpness_aware_gradient(problem.closure, problem.params(), geometry="fisher", radius=radius,
                                          kl_fn=inflated_kl(problem, 2e3), damping=0.0)
    assert 0 < info.backtracks < 10 and 0 < info.kl <= radius * (1 + 1e-9)
    g, g_shapo, info = sharpness_aware_gradient(problem.closure, problem.params(), geometry="fisher", radius=radius,
                                                kl_fn=inflated_kl(problem, 1e12), damping=0.0)
    assert info.backtracks == 10 and info.norm == 0.0 and torch.equal(g, g_shapo)


def test_a_given_gradient_and_loss_spare_the_first_evaluation() -> None:
    problem = make_problem(13)
    calls = []

    def counted() -> Tensor:
        calls.append(1)
        return problem.closure()

    gradient = SharpnessAwareGradient(problem.params(), "none").step(counted, problem.kl_fn)
    calls.clear()
    info = TrustRegionOptimizer(problem.policy.parameters()).step(counted, problem.kl_fn, grad=gradient.grad,
                                                                   loss_before=gradient.loss)
    assert info.accepted and len(calls) == info.backtracks + 1  # the line search's evaluations only
    assert info.loss_before == gradient.loss
