"""The rollout collector gives exactly what TorchRL's collector gives, without its per-step cost."""

from __future__ import annotations

import pytest
import torch
from torchrl.collectors import Collector
from torchrl.envs import ExplorationType

from shapo_rl import keys
from shapo_rl.envs import ObservationNormalizer, find_observation_normalizer, make_env
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


def _pair(task: str, num_envs: int, episode_steps: int | None, **options):
    return [make_env(task, num_envs=num_envs, seed=3, max_episode_steps=episode_steps, **options) for _ in range(2)]


@pytest.mark.parametrize(("task", "options"), [
    ("SafetyHopperVelocity-v1", {}),  # the simulator's cost, falls
    ("Walker2d-v4", {"keep_raw_obs": True}),  # falls as cost, the raw observation's copy
    ("SafetyPointGoal1-v0", {"workers": 1, "backend": "stock"}),  # builder resets, a worker's share
    ("SafetyHopperVelocity-v1", {"normalize_obs": False}),
])
def test_the_direct_path_equals_the_transformed_envs_bit_for_bit(task: str, options: dict) -> None:
    """DirectRollout against the TorchRL path it replaces: every key's values, dtype and layout,
    the normaliser's statistics after each rollout, and the random numbers left (the next draw)."""
    num_envs, steps = 4, 40
    envs = _pair(task, num_envs, 15, **options)
    torch.manual_seed(0)
    policy = GaussianPolicy(envs[0].observation_spec[keys.OBSERVATION].shape[-1], envs[0].action_spec.shape[-1],
                            (16,), init_log_std=0.5)
    stepped, direct = (RolloutCollector(env, policy, num_envs * steps, direct=flag)
                       for env, flag in zip(envs, (False, True)))
    assert stepped.direct is None and direct.direct is not None
    for rollout_seed in (11, 12):
        batches, draws = [], []
        for collector in (stepped, direct):
            collector.set_seed(rollout_seed)
            torch.manual_seed(rollout_seed)
            batches.append(collector.rollout())
            draws.append(torch.rand(1))
        expected, got = batches
        assert type(got) is type(expected) and got.batch_size == expected.batch_size and got.device == expected.device
        assert set(got.keys(True, True)) == set(expected.keys(True, True))
        for key in expected.keys(True, True):
            assert got[key].dtype == expected[key].dtype and got[key].stride() == expected[key].stride(), key
            assert torch.equal(got[key], expected[key]), key
        assert torch.equal(*draws)
        assert expected["next", keys.DONE][:, :-1].sum() >= num_envs  # resets inside the rollout
        normalizers = [find_observation_normalizer(env) for env in envs]
        if options.get("normalize_obs", True):
            first, second = normalizers
            assert torch.equal(first.count, second.count) and torch.equal(first.mean, second.mean)
            assert torch.equal(first.m2, second.m2)
        else:
            assert normalizers == [None, None]
    for env in envs:
        env.close()


def test_a_frozen_normaliser_stays_frozen_on_the_direct_path() -> None:
    env = make_env("SafetyHopperVelocity-v1", num_envs=2, seed=0, max_episode_steps=10)
    normalizer, obs_dim = find_observation_normalizer(env), env.observation_spec[keys.OBSERVATION].shape[-1]
    normalizer.update(torch.randn(50, obs_dim))
    normalizer.frozen = True
    before = {name: buffer.clone() for name, buffer in normalizer.named_buffers()}
    collector = RolloutCollector(env, GaussianPolicy(obs_dim, env.action_spec.shape[-1], (8,)), 60)
    assert collector.direct is not None
    batch = collector.rollout()
    assert all(torch.equal(before[name], buffer) for name, buffer in normalizer.named_buffers())
    assert batch["next", keys.DONE].any()
    env.close()


def test_stacks_the_direct_path_does_not_know_step_the_torchrl_way() -> None:
    """The toy CMDP (no simulator batch) and an algorithm's own transform keep TorchRL's path."""
    from shapo_rl.envs.saute import SauteState

    toy = make_env("ToyCMDP-v0", num_envs=2, seed=0)
    hopper = make_env("SafetyHopperVelocity-v1", num_envs=2, seed=0, transforms=[SauteState(25.0, 1000)])
    for env in (toy, hopper):
        assert RolloutCollector(env, GaussianPolicy(env.observation_spec[keys.OBSERVATION].shape[-1],
                                                    env.action_spec.shape[-1], (8,)), 20).direct is None
        env.close()


def test_physics_threads_reach_the_slice_and_leave_the_rollout_unchanged() -> None:
    """``physics_threads`` splits a fast slice's envs between that many threads (0: one per core);
    each env is stepped by one thread, so a rollout is the same with 1 and with 3."""
    from shapo_rl.algorithms.registry import make_run_env
    from shapo_rl.config import TrainConfig
    from shapo_rl.training import resolve

    batches = []
    for threads in (1, 3):
        config = resolve(TrainConfig(algo="trpo-lag", env="SafetyHopperVelocity-v1", steps=600, steps_per_epoch=600,
                                     physics_threads=threads))
        env = make_run_env(config, num_envs=6, seed=2, obs_normalizer=ObservationNormalizer())
        assert len(env.base_env._local._physics.shares) == threads
        torch.manual_seed(0)
        collector = RolloutCollector(env, GaussianPolicy(env.observation_spec[keys.OBSERVATION].shape[-1],
                                                         env.action_spec.shape[-1], (8,), init_log_std=0.5), 600)
        batches.append(collector.rollout())
        env.close()
    assert all(torch.equal(batches[0][key], batches[1][key]) for key in batches[0].keys(True, True))
