"""Falls-as-cost on MuJoCo: cost 1 exactly on the unhealthy termination, 0 on truncation."""

from __future__ import annotations

import pytest
import torch

from shapo_rl import keys
from shapo_rl.envs import make_env


def test_fall_costs_one_exactly_on_the_terminating_step() -> None:
    env = make_env("Walker2d-v4", num_envs=1, seed=0, normalize_obs=False)
    td = env.reset()
    costs, terminated = [], []
    for _ in range(300):
        td[keys.ACTION] = torch.ones(1, 6)  # every joint at full torque: the walker falls
        td = env.step(td)
        costs.append(td["next", keys.COST].item())
        terminated.append(td["next", keys.TERMINATED].item())
        if terminated[-1]:
            break
        td = td["next"]
    assert terminated[-1], "the walker did not fall"
    assert costs[-1] == 1.0 and all(c == 0.0 for c in costs[:-1])
    assert td["next", keys.EPISODE_COST].item() == 1.0
    env.close()


def test_truncation_costs_nothing() -> None:
    env = make_env("HalfCheetah-v4", num_envs=2, seed=0, max_episode_steps=10)
    td = env.rollout(10, break_when_any_done=False)
    assert td["next", keys.TRUNCATED][:, -1].all()
    assert not td["next", keys.TERMINATED].any()
    assert (td["next", keys.COST] == 0).all()
    env.close()


def test_resets_after_the_rollouts_last_step_are_skipped_and_checked() -> None:
    """With ``defer_resets_after(T)`` the auto-reset after step T costs no simulator reset; the
    envs must be fully reset before they step again."""
    env = make_env("HalfCheetah-v4", num_envs=2, seed=0, max_episode_steps=5, normalize_obs=False, workers=0)
    batch = env.base_env
    batch.defer_resets_after(10)
    resets = []
    original = batch._local.reset
    batch._local.reset = lambda requests: resets.append(len(requests)) or original(requests)
    td = env.reset()
    assert resets == [2]
    for step in range(1, 11):
        td[keys.ACTION] = torch.zeros(2, 6)
        _, td = env.step_and_maybe_reset(td)
        assert resets[-1] == 2 and len(resets) == 1 + (step >= 5)  # only the mid-rollout auto-reset
    with pytest.raises(RuntimeError, match="skipped reset"):
        env.step(td.set(keys.ACTION, torch.zeros(2, 6)))
    env.reset()
    assert resets == [2, 2, 2]
    env.step(env.reset().set(keys.ACTION, torch.zeros(2, 6)))  # fine after a full reset
    env.close()
