"""CRPO's switch: the cost objective exactly when Jc > d + tolerance, and the epoch's step is
TRPO's step on that objective (-A_c) or on the reward (A_r)."""

import copy
import math

import pytest
import torch

from shapo_rl.algorithms.protocol import Discounts
from shapo_rl.algorithms import UpdateBatch, UpdateContext
from shapo_rl.algorithms.actor_steps import trust_region_optimizer, trust_region_step
from shapo_rl.algorithms.crpo import CRPO, CRPOConfig, takes_cost_step
from shapo_rl.config import ConfigError
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import SharpnessAwareGradient, identity_reduce

LIMIT, TOLERANCE = 20.0, 2.0

DISCOUNTS = Discounts(gamma=0.99, cost_gamma=0.99, gae_lambda=0.95)


@pytest.mark.parametrize("episode_cost,cost_step", [
    (LIMIT + TOLERANCE, False),  # on the boundary: still the reward
    (math.nextafter(LIMIT + TOLERANCE, math.inf), True),
    (math.nextafter(LIMIT + TOLERANCE, -math.inf), False),
    (LIMIT + 0.5 * TOLERANCE, False),  # over the limit, within the tolerance
    (LIMIT, False),
    (0.0, False),
    (LIMIT + 10.0, True),
])
def test_the_cost_objective_exactly_above_the_limit_plus_tolerance(episode_cost, cost_step):
    assert takes_cost_step(episode_cost, LIMIT, TOLERANCE) is cost_step


def test_zero_tolerance_is_the_limit_itself():
    assert not takes_cost_step(LIMIT, LIMIT, 0.0) and takes_cost_step(math.nextafter(LIMIT, math.inf), LIMIT, 0.0)


def _context(policy, geometry):
    return UpdateContext(policy=policy, optimizers=[trust_region_optimizer(policy, CRPOConfig().trust_region,
                                                                           identity_reduce)],
                         gradient=SharpnessAwareGradient(policy.parameters(), geometry, radius=1e-3),
                         reduce=identity_reduce, total=None, backward=None, update_critics=lambda batch: {})


def _batch(policy, episode_cost):
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(256, 3, generator=gen)
    with torch.no_grad():
        dist = policy.distribution(obs)
        actions = dist.sample()
        loc, scale = policy(obs)
    # Reward and cost advantages of very different scales, uncorrelated.
    adv_r, adv_c = 5 * torch.randn(256, generator=gen) + 1, 0.1 * torch.randn(256, generator=gen)
    return UpdateBatch(obs, actions, dist.log_prob(actions), loc, scale, adv_r, adv_c, torch.zeros(256, 1),
                       torch.zeros(256, 1), episode_cost, LIMIT)


@pytest.mark.parametrize("episode_cost,cost_step", [(LIMIT + TOLERANCE, False),
                                                     (math.nextafter(LIMIT + TOLERANCE, math.inf), True)])
@pytest.mark.parametrize("geometry", ["none", "fisher"])
def test_the_update_is_the_trpo_step_on_the_chosen_objective(episode_cost, cost_step, geometry):
    """With SHAPO the chosen objective is the one perturbed (its shapo_* diagnostics are logged)."""
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, (16,))
    reference = copy.deepcopy(policy)
    batch = _batch(policy, episode_cost)
    metrics = CRPO(CRPOConfig(), cost_limit=LIMIT, discounts=DISCOUNTS).update(batch, _context(policy, geometry))
    assert metrics["crpo_cost_step"] == float(cost_step)
    context = _context(reference, geometry)
    adv_r, adv_c = context.standardized(batch)
    expected = trust_region_step(context, batch, -adv_c if cost_step else adv_r)
    assert {k: v for k, v in metrics.items() if k != "crpo_cost_step"} == expected
    assert ("shapo_loss_drop" in metrics) == (geometry == "fisher")
    for p, q in zip(policy.parameters(), reference.parameters()):
        assert torch.equal(p, q)


def test_a_negative_tolerance_is_a_config_error():
    with pytest.raises(ConfigError, match="tolerance"):
        CRPOConfig(tolerance=-1.0)
