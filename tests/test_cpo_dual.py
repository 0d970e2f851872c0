"""The CPO dual solve against an independent primal solver (SLSQP) on small dense instances."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from shapo_rl.optim.cpo_dual import cpo_step

def _instance(rng: np.random.Generator, case: int, n: int) -> dict:
    """A random SPD F, gradients g and b, and c aimed at ``case`` through k = |c| / sqrt(2 delta s)
    (B >= 0 iff k <= 1); case 4: a negligible b and c well below 0, the constraint out of reach."""
    M = rng.normal(size=(n, n))
    F = M @ M.T + 0.5 * np.eye(n)
    delta = float(rng.uniform(0.005, 0.05))
    g = rng.normal(size=n)
    b = rng.normal(size=n) * (1e-5 if case == 4 else 1.0)
    s = b @ np.linalg.solve(F, b)
    if case == 4:
        c = -float(rng.uniform(0.05, 1.0))
    else:
        k = rng.uniform(1.05, 3.0) if case in (0, 3) else rng.uniform(0.01 if case == 2 else 0.0, 0.95)
        c = (-1.0 if case in (2, 3) else 1.0) * k * math.sqrt(2 * delta * s)
    return dict(F=F, g=g, b=b, c=c, delta=delta)


def _solve(inst: dict):
    F, g, b = (torch.from_numpy(inst[k]) for k in ("F", "g", "b"))
    x, p = torch.linalg.solve(F, g), torch.linalg.solve(F, b)
    return cpo_step(x, p, g, b, inst["c"], lambda v: F @ v, inst["delta"])


def _slsqp(objective, F, delta, extra=()) -> np.ndarray:
    """Primal solve from the origin and two nearby starts; the best successful optimum."""
    n = F.shape[0]
    rng = np.random.default_rng(0)
    constraints = [{"type": "ineq", "fun": lambda v: delta - 0.5 * v @ F @ v, "jac": lambda v: -F @ v}, *extra]
    best = None
    for start in (np.zeros(n), *(0.1 * rng.normal(size=n) * math.sqrt(delta) for _ in range(2))):
        res = minimize(objective, start, jac=True, constraints=constraints, method="SLSQP",
                       options={"ftol": 1e-12, "maxiter": 1000})
        if res.success and (best is None or res.fun < best.fun):
            best = res
    assert best is not None
    return best.x


def _primal_step(inst: dict) -> np.ndarray:
    F, g, b, c, delta = inst["F"], inst["g"], inst["b"], inst["c"], inst["delta"]
    cost = {"type": "ineq", "fun": lambda v: -(c + b @ v), "jac": lambda v: -b}
    return _slsqp(lambda v: (-g @ v, -g), F, delta, (cost,))


def _least_cost_step(inst: dict) -> np.ndarray:
    b = inst["b"]
    return _slsqp(lambda v: (b @ v, b), inst["F"], inst["delta"])


def _assert_close(step: np.ndarray, expected: np.ndarray) -> None:
    assert np.linalg.norm(step - expected) <= 1e-5 * np.linalg.norm(expected) + 1e-9, (step, expected)


@pytest.mark.parametrize("case", [0, 1, 2, 3, 4])
def test_step_solves_the_primal_qp_in_every_case(case):
    rng = np.random.default_rng(100 + case)
    branches = set()
    for trial in range(40 if case in (1, 2) else 12):
        inst = _instance(rng, case, n=3 + trial % 4)
        out = _solve(inst)
        assert out.case == case
        step = out.step.numpy()
        F, b, c, delta = inst["F"], inst["b"], inst["c"], inst["delta"]
        assert 0.5 * step @ F @ step <= delta * (1 + 1e-8)
        if case == 0:
            _assert_close(step, _least_cost_step(inst))
            assert math.isnan(out.lam)
            continue
        assert c + b @ step <= 1e-8
        _assert_close(step, _primal_step(inst))
        if case in (3, 4):
            assert out.nu == 0.0
        branches.add(out.nu > 0)
    if case in (1, 2):  # both dual pieces: the cost constraint active (nu > 0) and not
        assert branches == {True, False}


@pytest.mark.parametrize("r_sign", [1.0, -1.0])
def test_on_the_cost_boundary_c_zero_is_case_1(r_sign):
    inst = _instance(np.random.default_rng(7), 1, n=4)
    inst["c"] = 0.0
    p = np.linalg.solve(inst["F"], inst["b"])
    if np.sign(inst["g"] @ p) != r_sign:
        inst["g"] = -inst["g"]
    out = _solve(inst)
    assert out.case == 1
    assert inst["b"] @ out.step.numpy() <= 1e-10
    _assert_close(out.step.numpy(), _primal_step(inst))


def test_reward_gradient_parallel_to_cost_gradient_reaches_the_cost_boundary():
    """A = 0: the optimum is the least-KL point of c + b^T s = 0; exactly A = 0 gives lambda* = 0."""
    F = 2 * torch.eye(3, dtype=torch.float64)
    b = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    out = cpo_step(b, b / 2, 2 * b, b, 0.05, lambda v: F @ v, 0.01)  # q = 2, r = 1, s = 1/2: A = 0
    assert out.case == 1 and out.lam == 0.0
    torch.testing.assert_close(out.step, -(0.05 / 0.5) * (b / 2))
    # Rounded, A is a few ulps off 0, of either sign (negative for seeds 6 and 7): the same optimum.
    for seed in range(10):
        inst = _instance(np.random.default_rng(seed), 1, n=3)
        inst["g"] = 2.0 * inst["b"]
        out = _solve(inst)
        F, b, c = inst["F"], inst["b"], inst["c"]
        step = out.step.numpy()
        assert out.case == 1 and torch.isfinite(out.step).all()
        p = np.linalg.solve(F, b)
        np.testing.assert_allclose(step, -(c / (b @ p)) * p, rtol=1e-6)
        assert inst["g"] @ step == pytest.approx(inst["g"] @ _primal_step(inst), rel=1e-6)


def test_zero_gradients():
    F = torch.eye(3, dtype=torch.float64) * 2
    g, zero = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    x = g / 2
    trpo = math.sqrt(2 * 0.01 / float(x @ g)) * x
    # No cost gradient: feasible (case 4) for c <= 0; nothing can recover when c > 0 (case 0, no step).
    for c in (-1.0, 0.0):
        out = cpo_step(x, zero, g, zero, c, lambda v: F @ v, 0.01)
        assert out.case == 4 and out.nu == 0.0
        torch.testing.assert_close(out.step, trpo)
    out = cpo_step(x, zero, g, zero, 1.0, lambda v: F @ v, 0.01)
    assert out.case == 0 and not out.step.any()
    # No reward gradient: stay put where feasible (cases 3 and 2); when infeasible (case 1), the
    # least-KL feasible point -(c/s) p (s = 1/2).
    b = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    for c, case in ((-1.0, 3), (-0.05, 2)):
        out = cpo_step(zero, b / 2, zero, b, c, lambda v: F @ v, 0.01)
        assert out.case == case and not out.step.any()
    out = cpo_step(zero, b / 2, zero, b, 0.05, lambda v: F @ v, 0.01)
    assert out.case == 1
    torch.testing.assert_close(out.step, -(0.05 / 0.5) * (b / 2))


def test_bad_inputs_raise():
    F = torch.eye(2, dtype=torch.float64)
    v = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="max_kl"):
        cpo_step(v, v, v, v, 0.0, lambda u: F @ u, 0.0)
    with pytest.raises(ValueError, match="finite"):
        cpo_step(v, v, v, v, math.nan, lambda u: F @ u, 0.01)
    with pytest.raises(ValueError, match="curvature"):
        cpo_step(v, v, v, v, 0.0, lambda u: -F @ u, 0.01)
