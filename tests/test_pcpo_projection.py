"""PCPO's step through the shared constrained step against the paper's closed form, computed
independently with a dense Fisher (numpy inverse), on random small instances."""

import math

import numpy as np
import pytest
import torch

from shapo_rl.optim import LinearConstraint, natural_gradient_step, step_direction


def _instance(seed: int, n: int = 6):
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(n, n))
    fisher = m @ m.T + 0.5 * np.eye(n)
    return fisher, rng.normal(size=n), rng.normal(size=n), float(rng.uniform(0.005, 0.05))


def _closed_form(fisher, g, b, c, delta):
    """theta_{k+1} - theta_k of Yang et al. 2020 (KL projection, L = F), with a dense F^-1."""
    inv = np.linalg.inv(fisher)
    alpha = math.sqrt(2 * delta / (g @ inv @ g))
    nu = max(0.0, (alpha * (b @ inv @ g) + c) / (b @ inv @ b))
    return alpha * inv @ g - nu * inv @ b, nu


def _pcpo(fisher, g, b, c, delta):
    F = torch.from_numpy(fisher)
    return step_direction(torch.from_numpy(g), lambda v: F @ v, delta, LinearConstraint(torch.from_numpy(b), c),
                          method="pcpo", cg_iters=30)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [-2.0, -0.3, 0.0, 0.4, 3.0])  # c in units of sqrt(2 delta b^T F^-1 b)
def test_the_step_is_the_papers_kl_projection(seed, k):
    fisher, g, b, delta = _instance(seed)
    c = k * math.sqrt(2 * delta * (b @ np.linalg.solve(fisher, b)))
    expected, nu = _closed_form(fisher, g, b, c, delta)
    direction = _pcpo(fisher, g, b, c, delta)
    np.testing.assert_allclose(direction.step.numpy(), expected, rtol=1e-8, atol=1e-12)
    assert direction.nu == pytest.approx(nu, rel=1e-8, abs=1e-12) and direction.case is None


@pytest.mark.parametrize("seed", range(6))
def test_the_projected_step_meets_the_linearised_constraint_and_is_the_nearest_in_kl(seed):
    fisher, g, b, delta = _instance(seed)
    reward_step = math.sqrt(2 * delta / (g @ np.linalg.solve(fisher, g))) * np.linalg.solve(fisher, g)
    c = 0.5 - b @ reward_step  # the reward step violates c + b^T s <= 0 by 0.5
    step = _pcpo(fisher, g, b, c, delta).step.numpy()
    assert c + b @ step == pytest.approx(0.0, abs=1e-10)  # on the boundary: the constraint holds
    # KKT of min 1/2 (s - s_r)^T F (s - s_r) s.t. c + b^T s <= 0: F (s - s_r) = -nu b with nu > 0.
    residual = fisher @ (step - reward_step)
    nu = -(residual @ b) / (b @ b)
    assert nu > 0
    np.testing.assert_allclose(residual, -nu * b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_a_feasible_reward_step_is_trpos_step_unprojected(seed):
    fisher, g, b, delta = _instance(seed)
    F = torch.from_numpy(fisher)
    direction = _pcpo(fisher, g, b, -1e3, delta)
    trpo, _ = natural_gradient_step(torch.from_numpy(g), lambda v: F @ v, delta, 30)
    assert direction.nu == 0.0
    torch.testing.assert_close(direction.step, trpo, rtol=1e-12, atol=0)


def test_an_unknown_method_is_refused():
    fisher, g, b, delta = _instance(0)
    F = torch.from_numpy(fisher)
    with pytest.raises(ValueError, match="method"):
        step_direction(torch.from_numpy(g), lambda v: F @ v, delta, LinearConstraint(torch.from_numpy(b), 0.0),
                       method="qp")
