"""RCPO: the penalty is in the return. The module's two GAEs combined by
``UpdateBatch.penalized_advantage`` give the GAE and the lambda-return of r - lambda c with the
value V_r - lambda V_c, by hand on a tiny trajectory with one truncation and one termination;
and the actor's natural step is taken on that (raw, then z-scored) advantage."""

import copy

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn

from shapo_rl.algorithms.protocol import Discounts
from shapo_rl import keys
from shapo_rl.algorithms import UpdateBatch, UpdateContext
from shapo_rl.algorithms.actor_steps import kl_to_behaviour, surrogate, trust_region_optimizer, trust_region_step
from shapo_rl.algorithms.rcpo import RCPO, RCPOConfig
from shapo_rl.config import TrustRegionConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import (
    SharpnessAwareGradient,
    fisher_vector_product,
    flat_grad,
    get_flat_params,
    identity_reduce,
    natural_gradient_step,
)
from shapo_rl.rollout import AdvantageEstimator, standardize

DISCOUNTS = Discounts(gamma=0.99, cost_gamma=0.99, gae_lambda=0.95)


class _ReadValues(nn.Module):
    """(V_r(s), V_c(s)) = the observation's two columns: values chosen by hand."""

    def forward(self, obs):
        return obs[..., 0:1], obs[..., 1:2]


def test_the_penalised_advantage_is_the_gae_of_the_penalised_reward_by_hand():
    # Five steps: step 1 is a time-limit truncation (bootstraps from V(s'_1)), step 3 a termination
    # (does not), step 4 the end of the batch (bootstraps, not done).
    obs = torch.tensor([[1.0, 2.0], [0.5, 1.0], [2.0, 0.0], [1.0, 3.0], [0.0, 1.0]])
    next_obs = torch.tensor([[0.5, 1.0], [4.0, 2.0], [1.0, 3.0], [9.0, 9.0], [2.0, 2.0]])
    reward = torch.tensor([1.0, 2.0, 0.0, 3.0, 1.0])
    cost = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.0])
    truncated = torch.tensor([False, True, False, False, False])
    terminated = torch.tensor([False, False, False, True, False])
    behaviour = {key: torch.zeros(5, 1) for key in (keys.ACTION, keys.ACTION_LOG_PROB, keys.LOC, keys.SCALE)}
    td = TensorDict({
        keys.OBSERVATION: obs, **behaviour,
        "next": {keys.OBSERVATION: next_obs, keys.REWARD: reward[:, None], keys.COST: cost[:, None],
                 keys.DONE: (truncated | terminated)[:, None], keys.TERMINATED: terminated[:, None],
                 keys.TRUNCATED: truncated[:, None]},
    }, batch_size=[5]).unsqueeze(0)
    critics = TensorDictModule(_ReadValues(), in_keys=[keys.OBSERVATION], out_keys=[keys.VALUE, keys.COST_VALUE])
    gamma, lmbda, lam = 0.5, 0.5, 0.25
    AdvantageEstimator(critics, gamma=gamma, cost_gamma=gamma, lmbda=lmbda)(td)
    batch = UpdateBatch.from_rollout(td.reshape(-1), episode_cost=1.0, cost_limit=1.0)

    # By hand: r_hat = r - lam c, V_hat = V_r - lam V_c,
    # delta_t = r_hat_t + gamma (1 - terminated_t) V_hat(s'_t) - V_hat(s_t).
    r_hat = reward - lam * cost
    v_hat, next_v_hat = obs[:, 0] - lam * obs[:, 1], next_obs[:, 0] - lam * next_obs[:, 1]
    d0 = r_hat[0] + gamma * next_v_hat[0] - v_hat[0]  # 0.75 + 0.5 * 0.25 - 0.5 = 0.375
    d1 = r_hat[1] + gamma * next_v_hat[1] - v_hat[1]  # truncated: 2 + 0.5 * 3.5 - 0.25 = 3.5
    d2 = r_hat[2] + gamma * next_v_hat[2] - v_hat[2]  # -0.5 + 0.5 * 0.25 - 2 = -2.375
    d3 = r_hat[3] - v_hat[3]  # terminated: 2.75 - 0.25 = 2.5
    d4 = r_hat[4] + gamma * next_v_hat[4] - v_hat[4]  # 1 + 0.5 * 1.5 + 0.25 = 2.0
    gl = gamma * lmbda
    expected = torch.stack([d0 + gl * d1, d1, d2 + gl * d3, d3, d4])  # the episodes: {0, 1}, {2, 3}, {4}
    torch.testing.assert_close(expected, torch.tensor([1.25, 3.5, -1.75, 2.5, 2.0]))
    advantage = batch.penalized_advantage(lam)
    torch.testing.assert_close(advantage, expected)
    # The penalised lambda-return (the value target of r - lam c) is the targets' combination.
    torch.testing.assert_close(advantage + v_hat, (batch.reward_target - lam * batch.cost_target).squeeze(-1))


def _batch(policy, episode_cost):
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(256, 3, generator=gen)
    with torch.no_grad():
        dist = policy.distribution(obs)
        actions = dist.sample()
        loc, scale = policy(obs)
    adv_r, adv_c = 5 * torch.randn(256, generator=gen) + 1, 0.5 * torch.randn(256, generator=gen) + 2
    return UpdateBatch(obs, actions, dist.log_prob(actions), loc, scale, adv_r, adv_c, torch.zeros(256, 1),
                       torch.zeros(256, 1), episode_cost, 10.0)


def test_the_actor_takes_the_full_natural_step_on_the_penalised_advantage():
    """After the multiplier's update (Jc = 30 > d = 10: lambda grows), the step is
    sqrt(2 delta / x^T F x) x on the surrogate of z(A_r - lambda A_c), with no line search."""
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, (16,))
    theta = get_flat_params(list(policy.parameters()))
    reference = copy.deepcopy(policy)
    batch = _batch(policy, 30.0)
    rcpo = RCPO(RCPOConfig(), cost_limit=10.0, discounts=DISCOUNTS)
    context = UpdateContext(policy=policy, optimizers=[], gradient=SharpnessAwareGradient(policy.parameters(), "none"),
                            reduce=identity_reduce, total=None, backward=None, update_critics=lambda batch: {})
    metrics = rcpo.update(batch, context)
    lam = rcpo.multiplier
    assert lam == pytest.approx(0.001 + 0.035)  # Adam's first step moves lambda by its learning rate
    assert metrics["trust_region_accepted"] == 1.0 and metrics["backtracks"] == 0.0

    params = list(reference.parameters())
    advantage = standardize(batch.reward_advantage - lam * batch.cost_advantage)
    ref_context = copy.copy(context)
    ref_context.policy = reference
    loss = surrogate(reference, batch, advantage)()
    g = -flat_grad(loss, params)
    fvp = fisher_vector_product(kl_to_behaviour(ref_context, batch), params, 0.1)
    step, _ = natural_gradient_step(g, fvp, 0.01, 15)
    torch.testing.assert_close(get_flat_params(list(policy.parameters())), theta + step, rtol=1e-6, atol=1e-7)


def test_with_line_search_the_step_is_trpos_on_the_same_advantage():
    """A trust region so wide that the full natural step overshoots: TRPO's backtracking decides."""
    torch.manual_seed(0)
    policy = GaussianPolicy(3, 2, (16,), init_log_std=-0.5, init="orthogonal")  # sigma 0.61: the step overshoots
    reference = copy.deepcopy(policy)
    batch = _batch(policy, 30.0)
    config = RCPOConfig(line_search=True, trust_region=TrustRegionConfig(max_kl=2.0))
    rcpo = RCPO(config, cost_limit=10.0, discounts=DISCOUNTS)

    def context(p):
        return UpdateContext(policy=p, optimizers=[trust_region_optimizer(p, config.trust_region, identity_reduce)],
                             gradient=SharpnessAwareGradient(p.parameters(), "none"), reduce=identity_reduce,
                             total=None, backward=None, update_critics=lambda batch: {})

    metrics = rcpo.update(batch, context(policy))
    advantage = standardize(batch.reward_advantage - rcpo.multiplier * batch.cost_advantage)
    expected = trust_region_step(context(reference), batch, advantage)
    assert {k: metrics[k] for k in expected} == expected and metrics["backtracks"] > 0
    for p, q in zip(policy.parameters(), reference.parameters()):
        assert torch.equal(p, q)
