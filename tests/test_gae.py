"""Reward and cost advantages against a hand computation, including truncation and termination."""

import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn

from shapo_rl import keys
from shapo_rl.rollout import AdvantageEstimator, standardize


class _ReadValues(nn.Module):
    """(V_r(s), V_c(s)) = the observation's two columns: values we choose by hand."""

    def forward(self, obs):
        return obs[..., 0:1], obs[..., 1:2]


def _hand_gae(rewards, values, next_values, terminated, done, gamma, lmbda):
    adv = torch.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        if done[t]:
            running = 0.0
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * lmbda * running
        adv[t] = running
    return adv


def test_cost_and_reward_gae_match_hand_computation_with_truncation_and_termination():
    torch.manual_seed(0)
    T = 7
    # obs columns: [reward value, cost value]; step 2 is a time-limit truncation (bootstraps),
    # step 4 a termination (does not), step 6 the batch end (bootstraps, not done).
    obs = torch.randn(T, 2)
    next_obs = torch.randn(T, 2)
    reward, cost = torch.randn(T, 1), torch.rand(T, 1)
    truncated = torch.zeros(T, 1, dtype=torch.bool)
    terminated = torch.zeros(T, 1, dtype=torch.bool)
    truncated[2] = True
    terminated[4] = True
    done = truncated | terminated
    td = TensorDict({
        keys.OBSERVATION: obs,
        "next": {keys.OBSERVATION: next_obs, keys.REWARD: reward, keys.COST: cost, keys.DONE: done,
                 keys.TERMINATED: terminated, keys.TRUNCATED: truncated},
    }, batch_size=[T]).unsqueeze(0)  # [envs=1, T]
    critics = TensorDictModule(_ReadValues(), in_keys=[keys.OBSERVATION], out_keys=[keys.VALUE, keys.COST_VALUE])
    gamma, cost_gamma, lmbda = 0.9, 0.8, 0.7
    AdvantageEstimator(critics, gamma=gamma, cost_gamma=cost_gamma, lmbda=lmbda)(td)

    f = lambda x: x.squeeze(-1).float()  # noqa: E731
    expected_r = _hand_gae(f(reward), obs[:, 0], next_obs[:, 0], f(terminated), f(done), gamma, lmbda)
    expected_c = _hand_gae(f(cost), obs[:, 1], next_obs[:, 1], f(terminated), f(done), cost_gamma, lmbda)
    torch.testing.assert_close(td[keys.ADVANTAGE].reshape(-1), expected_r)
    torch.testing.assert_close(td[keys.COST_ADVANTAGE].reshape(-1), expected_c)
    torch.testing.assert_close(td[keys.COST_VALUE_TARGET].reshape(-1), expected_c + obs[:, 1])
    # The truncated step bootstraps from V_c(s'); the terminated one does not.
    assert torch.isclose(td[keys.COST_ADVANTAGE][0, 2, 0], cost[2, 0] + cost_gamma * next_obs[2, 1] - obs[2, 1])
    assert torch.isclose(td[keys.COST_ADVANTAGE][0, 4, 0], cost[4, 0] - obs[4, 1])


def test_standardize_gives_zero_mean_unit_std():
    x = torch.randn(1000) * 5 + 3
    z = standardize(x)
    assert abs(float(z.mean())) < 1e-5 and abs(float(z.std()) - 1) < 1e-4


def test_pooled_standardize_equals_standardize_of_all_processes_batches():
    """With ``total`` summing over processes, each process's z-scores are those of the whole."""
    gen = torch.Generator().manual_seed(0)
    chunks = [torch.randn(300, generator=gen) * 4 + 2, torch.randn(500, generator=gen) - 1]
    everything = torch.cat(chunks)
    for k, chunk in enumerate(chunks):
        other = chunks[1 - k].double()

        def total(stats, other=other):  # what the other process contributes to the sum
            return stats + torch.stack([torch.tensor(float(other.numel()), dtype=torch.float64), other.sum(),
                                        other.square().sum()])

        start = 0 if k == 0 else len(chunks[0])
        part = slice(start, start + len(chunk))
        torch.testing.assert_close(standardize(chunk, total=total), standardize(everything)[part],
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(standardize(chunk, scale=False, total=total),
                                   (everything - everything.mean())[part], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(standardize(chunks[0]), standardize(everything)[:300], atol=1e-2)
