"""The shared constrained natural-gradient step: without a constraint it is TRPO's step exactly;
with one it is CPO's, and the algorithm's acceptance predicate decides the backtracking."""

import math

import pytest
import torch

from shapo_rl.optim import (
    LinearConstraint,
    constrained_natural_step,
    natural_gradient_step,
    step_direction,
)


def _instance(seed: int, n: int = 5):
    gen = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, dtype=torch.float64, generator=gen)
    fisher = m @ m.T + 0.5 * torch.eye(n, dtype=torch.float64)
    g = torch.randn(n, dtype=torch.float64, generator=gen)
    b = torch.randn(n, dtype=torch.float64, generator=gen)
    return fisher, (lambda v: fisher @ v), g, b


@pytest.mark.parametrize("seed", range(4))
def test_without_a_constraint_it_is_the_trpo_step_exactly(seed):
    fisher, fvp, g, _ = _instance(seed)
    direction = step_direction(g, fvp, 0.01, cg_iters=15)
    trpo, _ = natural_gradient_step(g, fvp, 0.01, 15)
    assert torch.equal(direction.step, trpo) and direction.case is None and direction.nu == 0.0
    x = torch.linalg.solve(fisher, g)  # closed form sqrt(2 delta / g^T F^-1 g) F^-1 g
    torch.testing.assert_close(direction.step, math.sqrt(0.02 / float(g @ x)) * x, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_a_constraint_out_of_reach_leaves_the_trpo_step(seed):
    _, fvp, g, b = _instance(seed)
    direction = step_direction(g, fvp, 0.01, LinearConstraint(b, -1e3), cg_iters=15)
    assert direction.case == 3 and direction.nu == 0.0
    torch.testing.assert_close(direction.step, natural_gradient_step(g, fvp, 0.01, 15)[0], rtol=1e-12, atol=0)


@pytest.mark.parametrize("seed", range(4))
def test_an_active_constraint_is_met_by_the_step(seed):
    fisher, fvp, g, b = _instance(seed)
    c = -0.2 * math.sqrt(float(b @ torch.linalg.solve(fisher, b)) * 0.02)  # feasible, the boundary cuts the ball
    direction = step_direction(g, fvp, 0.01, LinearConstraint(b, c), cg_iters=50)
    assert direction.case in (1, 2)
    s = direction.step
    assert c + float(b @ s) <= 1e-9 and 0.5 * float(s @ fisher @ s) <= 0.01 * (1 + 1e-9)


def test_the_acceptance_predicate_sees_the_direction_and_decides_the_backtracking():
    _, fvp, g, b = _instance(0)
    w = torch.zeros(5, dtype=torch.float64)
    seen = []

    def accept(direction, values):
        seen.append((direction.case, values))
        return values[0] < 0.5 * values[1]  # only a short enough step: |w| below half the full one

    full = float(step_direction(g, fvp, 0.01, LinearConstraint(b, -1e3)).step.norm())
    direction, result = constrained_natural_step([w], g, fvp, 0.01, lambda: (w.norm(), torch.tensor(full)), accept,
                                                 constraint=LinearConstraint(b, -1e3), ratio=0.8, max_iters=10)
    assert result.accepted and result.steps_taken == 4  # 0.8^4 = 0.41 is the first fraction below 0.5
    assert [case for case, _ in seen] == [3] * 5
    torch.testing.assert_close(w, 0.8**4 * direction.step)
    w.zero_()
    _, result = constrained_natural_step([w], g, fvp, 0.01, lambda: (w.norm(), torch.tensor(0.0)), accept,
                                         max_iters=3)
    assert not result.accepted and result.steps_taken == 3 and torch.equal(w, torch.zeros(5, dtype=torch.float64))
