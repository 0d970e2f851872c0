"""The rollout collector gives exactly what TorchRL's collector gives, without its per-step cost."""

from __future__ import annotations

import pytest
import torch
from torchrl.collectors import Collector
from torchrl.envs import ExplorationType

from shapo_rl import keys
from shapo_rl.envs import find_observation_normalizer, make_env
from shapo_rl.models import GaussianPolicy, make_collection_policy
from shapo_rl.rollout.collector import RolloutCollector


def _torchrl_collector(env, policy: GaussianPolicy, frames: int) -> Collector:
    normalizer = find_observation_normalizer(env)
    normalizer.frozen = True  # TorchRL's collector resets once on construction: not a rollout's data
    collector = Collector(env, make_collection_policy(policy), frames_per_batch=frames, total_frames=-1,
                          exploration_type=ExplorationType.RANDOM, trust_policy=True, reset_at_each_iter=True,
                          auto_register_policy_transforms=False, track_traj_ids=False)
    normalizer.frozen = False
    return collector


@pytest.mark.parametrize(("task", "num_envs", "steps", "episode_steps"), [
    ("ToyCMDP-v0", 3, 45, None),  # truncations only, pure-torch env
    ("SafetyHopperVelocity-v1", 4, 60, 25),  # falls (terminations), truncations, simulator cost
])
def test_rollouts_equal_torchrls_collector_bit_for_bit(task: str, num_envs: int, steps: int,
                                                       episode_steps: int | None) -> None:
    envs = [make_env(task, num_envs=num_envs, seed=3, max_episode_steps=episode_steps) for _ in range(2)]
    torch.manual_seed(0)
    spec = envs[0]
    # An instance where no episode ends on a rollout's last step (then TorchRL's collector resets
    # and counts one more observation: test_no_reset_after_the_last_step), from the orthogonal init.
    policy = GaussianPolicy(spec.observation_spec[keys.OBSERVATION].shape[-1], spec.action_spec.shape[-1], (16, 16),
                            init_log_std=-0.5, init="orthogonal")
    frames = num_envs * steps
    reference = iter(_torchrl_collector(envs[0], policy, frames))
    ours = RolloutCollector(envs[1], policy, frames)
    for rollout_seed in (11, 12):  # the second rollout starts from statistics the first one left
        for env in envs:
            env.set_seed(rollout_seed)
        torch.manual_seed(rollout_seed)
        expected = next(reference)
        torch.manual_seed(rollout_seed)
        got = ours.rollout()
        assert got.batch_size == expected.batch_size == (num_envs, steps)
        assert set(got.keys(True, True)) == set(expected.keys(True, True))
        for key in expected.keys(True, True):
            assert torch.equal(got[key], expected[key]), key
        assert expected["next", keys.DONE].sum() >= num_envs  # episodes did end inside the rollout
        first, second = (find_observation_normalizer(env) for env in envs)
        assert torch.equal(first.count, second.count) and torch.equal(first.mean, second.mean)
        assert torch.equal(first.m2, second.m2)
    for env in envs:
        env.close()


def test_no_reset_after_the_last_step() -> None:
    """With rollouts of exactly one ToyCMDP episode every env ends on the last step. TorchRL's
    collector then resets them all, and its normaliser counts those unused observations; ours
    holds only the initial and the stepped observations. The rollouts themselves are equal."""
    num_envs, horizon = 4, 20
    envs = [make_env("ToyCMDP-v0", num_envs=num_envs, seed=0) for _ in range(2)]
    policy = GaussianPolicy(2, 1, (8,))
    reference = _torchrl_collector(envs[0], policy, num_envs * horizon)
    collector = RolloutCollector(envs[1], policy, num_envs * horizon)
    for env in envs:
        env.set_seed(1)
    torch.manual_seed(0)
    expected = next(iter(reference))
    torch.manual_seed(0)
    batch = collector.rollout()
    assert batch["next", keys.DONE][:, -1].all() and not batch["next", keys.DONE][:, :-1].any()
    assert all(torch.equal(batch[key], expected[key]) for key in expected.keys(True, True))
    assert find_observation_normalizer(envs[1]).count == num_envs * (horizon + 1)
    assert find_observation_normalizer(envs[0]).count == num_envs * (horizon + 2)
    for env in envs:
        env.close()


def test_frames_must_fill_whole_env_steps() -> None:
    env = make_env("ToyCMDP-v0", num_envs=4, seed=0)
    with pytest.raises(ValueError, match="multiple of the number of envs"):
        RolloutCollector(env, GaussianPolicy(2, 1, (8,)), 10)
    env.close()


def test_policy_sample_is_the_distributions_rsample_and_log_prob_bit_for_bit() -> None:
    from shapo_rl.models import GaussianPolicy

    torch.manual_seed(0)
    policy = GaussianPolicy(5, 3, (8,), init_log_std=-0.3)
    obs = torch.randn(7, 5)
    with torch.no_grad():
        torch.manual_seed(1)
        action, log_prob, loc, scale = policy.sample(obs)
        torch.manual_seed(1)
        dist = policy.distribution(obs)
        expected = dist.rsample()
        assert torch.equal(action, expected) and torch.equal(log_prob, dist.log_prob(expected))
        assert torch.equal(loc, dist.base_dist.loc) and torch.equal(scale, dist.base_dist.scale)
        assert log_prob.shape == (7,)
