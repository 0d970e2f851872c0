"""Registry and the make_env contract for every registered task.

The contract test also covers batched safety-gymnasium cost (float32 ``[2, t, 1]``). The
builder-based safety-gymnasium tasks recompile their MuJoCo model on every reset (seconds each),
so each task is built once, and all but SafetyPointGoal1-v0 of them with a single env.
"""

from __future__ import annotations

import pytest
import torch

from shapo_rl import keys
from shapo_rl.envs import TASKS, UnknownTaskError, find_observation_normalizer, get_task, make_env

ROLLOUT = 5
# Builder tasks pay ~2 model compilations per env reset; one of them covers the batch of 2.
SINGLE_ENV = {"SafetyPointButton1-v0", "SafetyCarGoal1-v0", "SafetyCarCircle1-v0"}


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_meets_the_contract(name: str) -> None:
    n, t = (1 if name in SINGLE_ENV else 2), ROLLOUT
    env = make_env(name, num_envs=n, seed=1)
    td = env.rollout(t, break_when_any_done=False)
    assert env.batch_size == torch.Size([n])
    assert td[keys.OBSERVATION].dtype == torch.float32
    assert td[keys.OBSERVATION].shape[:2] == (n, t) and td[keys.OBSERVATION].ndim == 3
    act_dim = env.action_spec.shape[-1]
    assert td[keys.ACTION].shape == (n, t, act_dim) and td[keys.ACTION].dtype == torch.float32
    assert torch.isfinite(env.action_spec.space.low).all()
    for key in (keys.REWARD, keys.COST, keys.EPISODE_RETURN, keys.EPISODE_COST, keys.EPISODE_LENGTH):
        value = td["next", key]
        assert value.shape == (n, t, 1) and value.dtype == torch.float32, key
    for key in (keys.DONE, keys.TERMINATED, keys.TRUNCATED):
        assert td["next", key].shape == (n, t, 1) and td["next", key].dtype == torch.bool, key
    assert (td["next", keys.OBSERVATION].abs() <= 10).all()
    assert find_observation_normalizer(env) is not None
    env.close()


def test_without_normalisation_there_is_no_normaliser() -> None:
    env = make_env("ToyCMDP-v0", normalize_obs=False)
    assert find_observation_normalizer(env) is None


def test_registry_defaults() -> None:
    assert get_task("SafetyPointGoal1-v0").cost_limit == 25.0
    assert get_task("SafetyCarCircle1-v0").max_episode_steps == 500
    for name in ("Ant-v4", "Walker2d-v4", "HalfCheetah-v4"):
        assert 0.0 <= get_task(name).cost_limit < 1.0
    toy = get_task("ToyCMDP-v0")
    assert (toy.cost_limit, toy.max_episode_steps, toy.family) == (20.0, 20, "toy")


def test_unknown_task_suggests_the_nearest_name() -> None:
    with pytest.raises(UnknownTaskError, match="SafetyPointGoal1-v0") as info:
        get_task("SafetyPointGoal-v0")
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
    with pytest.raises(UnknownTaskError):
        make_env("NoSuchTask-v0")
