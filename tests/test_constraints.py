"""The Lagrange multiplier: projected gradient ascent on Jc - d, and the combined advantage."""

import copy

import pytest
import torch

from shapo_rl.constraints import LagrangeMultiplier, Unconstrained


def test_multiplier_rises_while_violated_and_is_projected_at_zero():
    lam = LagrangeMultiplier(cost_limit=25.0, init=0.001, lr=0.035)
    lam.update(50.0)
    # Adam's first step moves by exactly lr in the ascent direction.
    assert lam.multiplier == pytest.approx(0.001 + 0.035, abs=1e-6)
    for _ in range(5):
        lam.update(0.0)
    assert lam.multiplier == 0.0  # projected onto lambda >= 0


def test_combined_advantage_is_normalised_lagrangian():
    lam = LagrangeMultiplier(cost_limit=1.0, init=3.0)
    adv_r, adv_c = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
    torch.testing.assert_close(lam.combine(adv_r, adv_c), (adv_r - 3.0 * adv_c) / 4.0)
    torch.testing.assert_close(Unconstrained().combine(adv_r, adv_c), adv_r)


def test_state_dict_restores_multiplier_and_optimizer_moments():
    lam = LagrangeMultiplier(cost_limit=25.0)
    for cost in (40.0, 45.0, 10.0):
        lam.update(cost)
    restored = LagrangeMultiplier(cost_limit=25.0)
    restored.load_state_dict(copy.deepcopy(lam.state_dict()))
    lam.update(30.0)
    restored.update(30.0)
    assert lam.multiplier == restored.multiplier


def test_negative_cost_limit_is_refused():
    with pytest.raises(ValueError, match="cost limit"):
        LagrangeMultiplier(cost_limit=-1.0)


def test_upper_bound_projects_the_multiplier_and_defaults_to_none():
    """SGD steps of lr (Jc - d) = 0.1 * 10 from 1.5: [0, 2] stops at 2; without a bound it passes 2."""
    bounded = LagrangeMultiplier(cost_limit=0.0, init=1.5, lr=0.1, optimizer="sgd", upper=2.0)
    free = LagrangeMultiplier(cost_limit=0.0, init=1.5, lr=0.1, optimizer="sgd")
    for _ in range(3):
        bounded.update(10.0)
        free.update(10.0)
    assert bounded.multiplier == 2.0
    assert free.multiplier == pytest.approx(4.5)
    bounded.update(-30.0)  # back down by 3, projected at 0
    assert bounded.multiplier == 0.0
    with pytest.raises(ValueError, match="upper bound"):
        LagrangeMultiplier(cost_limit=0.0, init=1.5, upper=1.0)
