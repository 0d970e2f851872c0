"""Registry and the make_env contract for every curated task and one unnamed id of each family;
resolution of unnamed ids and one-line refusals (issue 13).

The contract test also covers batched safety-gymnasium cost (float32 ``[2, t, 1]``). Each task
is built once, the builder-based safety-gymnasium tasks other than SafetyPointGoal1-v0 with a
single env.
"""

from __future__ import annotations

import pytest
import torch

from shapo_rl import keys
from shapo_rl.envs import (
    TASKS,
    UnknownTaskError,
    UnsupportedTaskError,
    find_observation_normalizer,
    get_task,
    make_env,
)

ROLLOUT = 5
# One builder task covers the batch of 2; the others are built with one env.
SINGLE_ENV = {"SafetyPointButton1-v0", "SafetyCarGoal1-v0", "SafetyCarCircle1-v0", "SafetyRacecarGoal1-v0"}
# Unnamed ids: (family, default cost limit, episode length from the env's spec).
UNNAMED = {
    "SafetyPointCircle1-v0": ("safety-gymnasium", 25.0, 500),
    "SafetyCarButton1-v0": ("safety-gymnasium", 25.0, 1000),
    "SafetyRacecarGoal1-v0": ("safety-gymnasium", 25.0, 1000),
    "SafetySwimmerVelocity-v1": ("safety-gymnasium", 25.0, 1000),
    "SafetyWalker2dVelocity-v1": ("safety-gymnasium", 25.0, 1000),
    "SafetyPointGoal1Gymnasium-v0": ("safety-gymnasium", 25.0, 1000),
    "Hopper-v4": ("mujoco-falls", 0.1, 1000),
    "Humanoid-v4": ("mujoco-falls", 0.1, 1000),
    "Swimmer-v4": ("gymnasium", 25.0, 1000),
    "InvertedPendulum-v4": ("gymnasium", 25.0, 1000),
    "Pendulum-v1": ("gymnasium", 25.0, 200),
    "MountainCarContinuous-v0": ("gymnasium", 25.0, 999),
}


@pytest.mark.parametrize("name", [*TASKS, "SafetyRacecarGoal1-v0", "SafetyPointGoal1Gymnasium-v0", "Hopper-v4",
                                  "Pendulum-v1"])
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
    with pytest.raises(UnknownTaskError, match="did you mean SafetyCarCircle1-v0"):
        get_task("SafetyCarCirle1-v0")
    with pytest.raises(UnknownTaskError):
        make_env("NoSuchTask-v0")


@pytest.mark.parametrize("name", list(UNNAMED))
def test_unnamed_ids_resolve_to_their_family(name: str) -> None:
    spec = get_task(name)
    assert (spec.family, spec.cost_limit, spec.max_episode_steps) == UNNAMED[name]
    assert spec.description


def test_a_task_without_cost_reports_zero_cost() -> None:
    env = make_env("Pendulum-v1", num_envs=2, seed=0)
    assert (env.rollout(ROLLOUT, break_when_any_done=False)["next", keys.COST] == 0).all()
    assert "cost is always 0" in get_task("Pendulum-v1").description


@pytest.mark.parametrize("name,match", [
    ("SafetyPointGoal1Vision-v0", "Dict observation space.*vision"),
    ("FetchReach-v2", "Dict observation space"),
    ("CartPole-v1", "Discrete action space.*discrete actions are not in scope"),
    ("Hopper-v2", "cannot be built here"),
])
def test_out_of_scope_tasks_are_refused_in_one_line(name: str, match: str) -> None:
    with pytest.raises(UnsupportedTaskError, match=match) as info:
        get_task(name)
    assert "\n" not in str(info.value)
