"""The policy losses of ``algorithms/losses.py`` against hand computations on a tiny batch."""

import math

import pytest
import torch

from shapo_rl.algorithms.losses import clipped_surrogate_loss, importance_ratio, mean_kl, surrogate_loss
from tests.hand_batch import ACTIONS, ADVANTAGE, OBS, OLD_LOG_PROB, hand_policy


def _normal_log_prob(a: float, mu: float, sigma: float) -> float:
    return -((a - mu) ** 2) / (2 * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def _hand_ratios() -> list[float]:
    sigma = math.exp(-0.5)
    return [math.exp(_normal_log_prob(float(a), 0.5 * math.tanh(float(o[0])), sigma) - float(lp))
            for o, a, lp in zip(OBS, ACTIONS, OLD_LOG_PROB)]


def test_importance_ratio_and_surrogate_match_hand_values():
    ratios = _hand_ratios()
    policy = hand_policy()
    assert importance_ratio(policy, OBS, ACTIONS, OLD_LOG_PROB).tolist() == pytest.approx(ratios, rel=1e-12)
    expected = -sum(r * float(a) for r, a in zip(ratios, ADVANTAGE)) / 3
    assert float(surrogate_loss(policy, OBS, ACTIONS, OLD_LOG_PROB, ADVANTAGE)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("clip", [0.05, 0.2, 10.0])
def test_clipped_surrogate_takes_the_pessimistic_term(clip):
    ratios = _hand_ratios()
    terms = [min(r * float(a), min(max(r, 1 - clip), 1 + clip) * float(a)) for r, a in zip(ratios, ADVANTAGE)]
    loss = clipped_surrogate_loss(hand_policy(), OBS, ACTIONS, OLD_LOG_PROB, ADVANTAGE, clip=clip)
    assert float(loss) == pytest.approx(-sum(terms) / 3, rel=1e-12)
    if clip == 10.0:  # never binds: the plain surrogate
        assert float(loss) == pytest.approx(float(surrogate_loss(hand_policy(), OBS, ACTIONS, OLD_LOG_PROB, ADVANTAGE)))


def test_clipped_surrogate_gradient_vanishes_where_the_clip_binds():
    policy = hand_policy()
    ratios = _hand_ratios()
    clip = min(abs(r - 1) for r in ratios) / 2  # every ratio lies outside [1 - clip, 1 + clip]
    binding = [(r > 1 + clip and a > 0) or (r < 1 - clip and a < 0) for r, a in zip(ratios, ADVANTAGE.tolist())]
    assert any(binding) and not all(binding)
    keep = torch.tensor([not b for b in binding])
    clipped = clipped_surrogate_loss(policy, OBS, ACTIONS, OLD_LOG_PROB, ADVANTAGE, clip=clip)
    grads = torch.autograd.grad(clipped, list(policy.parameters()))
    unclipped = -(importance_ratio(policy, OBS, ACTIONS, OLD_LOG_PROB) * ADVANTAGE * keep).sum() / 3
    for got, want in zip(grads, torch.autograd.grad(unclipped, list(policy.parameters()))):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-15)


def test_mean_kl_is_the_closed_form_gaussian_kl():
    policy = hand_policy()
    old_loc = torch.tensor([[0.2], [-0.1], [0.5]], dtype=torch.float64)
    old_scale = torch.tensor([[0.7], [0.9], [0.4]], dtype=torch.float64)
    sigma = math.exp(-0.5)
    expected = 0.0
    for o, m0, s0 in zip(OBS, old_loc.reshape(-1).tolist(), old_scale.reshape(-1).tolist()):
        m1 = 0.5 * math.tanh(float(o[0]))
        expected += math.log(sigma / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * sigma**2) - 0.5
    assert float(mean_kl(policy, OBS, old_loc, old_scale)) == pytest.approx(expected / 3, rel=1e-12)
