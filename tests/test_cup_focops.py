"""FOCOPS's and CUP's losses and gradients against hand computations on a tiny batch, their
advantage and cost weight, and CUP's discounts taken from the run."""

import csv
import math

import pytest
import torch

from shapo_rl.algorithms import Discounts, apply_settings
from shapo_rl.algorithms.cup import CUP, CUPConfig, cup_projection_loss
from shapo_rl.algorithms.focops import FOCOPS, FOCOPSConfig, focops_loss
from shapo_rl.config import ConfigError, CriticConfig, ShapoConfig, TrainConfig
from shapo_rl.training import train
from tests.hand_batch import ACTIONS, ADVANTAGE, OBS, OLD_LOG_PROB, hand_policy

# The hand policy (tests/hand_batch.py): mu_i = 0.5 tanh(o_i) + b (b = 0), sigma = exp(s), s = -0.5.
REF_LOC = torch.tensor([[0.2], [-0.1], [0.5]], dtype=torch.float64)
REF_SCALE = torch.tensor([[0.7], [0.5], [0.4]], dtype=torch.float64)
DISCOUNTS = Discounts(gamma=0.99, cost_gamma=0.99, gae_lambda=0.95)


def _samples():
    """Per sample: (mu, sigma, a, r, m_ref, sigma_ref) by hand."""
    sigma = math.exp(-0.5)
    rows = []
    for o, a, lp, m, s in zip(OBS[:, 0].tolist(), ACTIONS[:, 0].tolist(), OLD_LOG_PROB.tolist(),
                              REF_LOC[:, 0].tolist(), REF_SCALE[:, 0].tolist()):
        mu = 0.5 * math.tanh(o)
        log_prob = -((a - mu) ** 2) / (2 * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)
        rows.append((mu, sigma, a, math.exp(log_prob - lp), m, s))
    return rows


def _reverse_kl(mu, sigma, m, s):
    """KL(N(mu, sigma) || N(m, s)) and its derivatives in mu and in log sigma."""
    kl = math.log(s / sigma) + (sigma**2 + (mu - m) ** 2) / (2 * s**2) - 0.5
    return kl, (mu - m) / s**2, -1 + sigma**2 / s**2


def _ratio_derivatives(mu, sigma, a, r):
    """d r / d mu and d r / d log sigma (r times the score)."""
    return r * (a - mu) / sigma**2, r * ((a - mu) ** 2 / sigma**2 - 1)


def _value_and_grads(loss, policy):
    """The loss and its gradient in the output bias b (d mu_i / d b = 1) and in s = log sigma."""
    bias, log_std = policy.mean[-1].bias, policy.log_std
    grad_b, grad_s = torch.autograd.grad(loss, [bias, log_std])
    return float(loss), float(grad_b[0]), float(grad_s[0])


@pytest.mark.parametrize("eta", [10.0, 0.2])
def test_focops_loss_and_gradient_match_hand_values(eta):
    """mean_i[(KL_i - r_i A_i / lam) 1{KL_i <= eta}], KL_i = KL(pi_theta || pi_old);
    eta 0.2 drops the third sample (KL 0.26) from the value and the gradient."""
    lam = 1.5
    value = grad_b = grad_s = 0.0
    kept = []
    for (mu, sigma, a, r, m, s), adv in zip(_samples(), ADVANTAGE.tolist()):
        kl, dkl_mu, dkl_s = _reverse_kl(mu, sigma, m, s)
        dr_mu, dr_s = _ratio_derivatives(mu, sigma, a, r)
        keep = kl <= eta
        kept.append(keep)
        value += keep * (kl - r * adv / lam) / 3
        grad_b += keep * (dkl_mu - dr_mu * adv / lam) / 3
        grad_s += keep * (dkl_s - dr_s * adv / lam) / 3
    assert kept == ([True, True, True] if eta == 10.0 else [True, True, False])
    policy = hand_policy()
    loss = focops_loss(policy, OBS, ACTIONS, OLD_LOG_PROB, REF_LOC, REF_SCALE, ADVANTAGE, lam=lam, eta=eta)
    assert _value_and_grads(loss, policy) == pytest.approx((value, grad_b, grad_s), rel=1e-12)


def test_focops_advantage_is_the_papers_unnormalised_combination():
    algorithm = FOCOPS(FOCOPSConfig(), cost_limit=10.0, discounts=DISCOUNTS)
    with torch.no_grad():
        algorithm.penalty.value.fill_(0.5)
    adv_r, adv_c = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    assert algorithm.advantage(adv_r, adv_c).tolist() == [1.0 - 0.25, -2.0 - 1.5]


def test_cup_projection_loss_and_gradient_match_hand_values():
    """mean_t[w r_t A_c,t + KL(pi_theta || pi_half)[s_t]]."""
    weight = 0.7
    value = grad_b = grad_s = 0.0
    for (mu, sigma, a, r, m, s), adv in zip(_samples(), ADVANTAGE.tolist()):
        kl, dkl_mu, dkl_s = _reverse_kl(mu, sigma, m, s)
        dr_mu, dr_s = _ratio_derivatives(mu, sigma, a, r)
        value += (weight * r * adv + kl) / 3
        grad_b += (weight * dr_mu * adv + dkl_mu) / 3
        grad_s += (weight * dr_s * adv + dkl_s) / 3
    policy = hand_policy()
    loss = cup_projection_loss(policy, OBS, ACTIONS, OLD_LOG_PROB, ADVANTAGE, REF_LOC, REF_SCALE, weight)
    assert _value_and_grads(loss, policy) == pytest.approx((value, grad_b, grad_s), rel=1e-12)


def test_cup_weighs_the_cost_with_the_runs_cost_discount_and_gae_lambda(tmp_path):
    """One epoch with cost_gamma 0.9 (reward gamma 0.99) and GAE lambda 0.8: the projection's cost
    weight is lambda (1 - 0.9 * 0.8) / (1 - 0.9) = 2.8 lambda, lambda the epoch's multiplier."""
    config = apply_settings(TrainConfig(algo="cup", env="ToyCMDP-v0", steps=200, steps_per_epoch=200, num_envs=10,
                                        gamma=0.99, cost_gamma=0.9, gae_lambda=0.8,
                                        critic=CriticConfig(update_iters=1)),
                            {"clip.update_iters": 2})
    run = train(config, tmp_path / "run", progress=False)
    with (run / "metrics.csv").open() as f:
        (row,) = csv.DictReader(f)
    assert float(row["lagrange_multiplier"]) > 0.01  # stepped up from its init 0.001 before the projection
    assert float(row["cup_weight"]) == pytest.approx(2.8 * float(row["lagrange_multiplier"]), rel=1e-6)
    assert float(row["projection_iterations"]) >= 1 and float(row["projection_kl"]) >= 0


def test_cup_skips_the_projection_without_a_multiplier(tmp_path):
    """lambda = 0 leaves KL(pi || pi_half) alone, minimal at pi_half: no projection steps (with SHAPO
    its gradient of about 0 would have no Fisher curvature)."""
    config = apply_settings(TrainConfig(algo="cup", env="ToyCMDP-v0", steps=200, steps_per_epoch=200, num_envs=10,
                                        critic=CriticConfig(update_iters=1), shapo=ShapoConfig(geometry="fisher")),
                            {"multiplier": "none", "clip.update_iters": 2})
    run = train(config, tmp_path / "run", progress=False)
    with (run / "metrics.csv").open() as f:
        (row,) = csv.DictReader(f)
    assert float(row["cup_weight"]) == 0.0 and float(row["projection_iterations"]) == 0.0


def test_cup_refuses_an_undiscounted_cost():
    with pytest.raises(ConfigError, match="cost_gamma < 1"):
        CUP(CUPConfig(), cost_limit=10.0, discounts=Discounts(gamma=0.99, cost_gamma=1.0, gae_lambda=0.95))
