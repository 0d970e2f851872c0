"""The fast locomotion slice steps exactly as the stock envs (bit for bit, before the float32 cast).

For each covered task: envs reset with their seeds, then a fixed action sequence (blocks of
large actions, up to 1.5x outside the action box, which make the robots fall, and blocks of small
ones, which let them reach a short time limit), finished episodes reset from their own
generators. At every step the slice's float64 observations, rewards and costs and its
terminated and truncated must have the very bits of the stock step's (``make test``: 3 seeds x
300 steps per task; ``make test-slow``: 200 seeds x 1,000 steps, slices of 20 envs). Episode ends
of both kinds (and both cost values of a safety task) must occur, so each rule is exercised.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch

from shapo_rl import keys
from shapo_rl.envs import make_env
from shapo_rl.envs.batched import slice_class
from shapo_rl.envs.batched.locomotion import RULES, LocomotionSlice, _speed_cost, is_inside
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.discovery import make_registered
from shapo_rl.envs.registry import get_task

FALLING = ("SafetyHopperVelocity-v1", "Walker2d-v4", "Hopper-v4", "Ant-v4", "SafetyAntVelocity-v1",
           "SafetyWalker2dVelocity-v1")
NEVER_FALLING = ("HalfCheetah-v4", "SafetyHalfCheetahVelocity-v1", "Swimmer-v4", "SafetySwimmerVelocity-v1")
TASKS = FALLING + NEVER_FALLING
LIMIT = 50  # a short time limit: truncations within a few hundred steps
BLOCK = 75  # steps of large, then of small actions


def _actions(space, steps: int, count: int) -> np.ndarray:
    amplitude = np.where(np.arange(steps) // BLOCK % 2 == 0, 1.5, 0.05)[:, None, None]
    return amplitude * np.random.default_rng(13).uniform(space.low, space.high, (steps, count, *space.shape))


def _bits(value) -> bytes:
    return np.asarray(value, dtype=np.float64).tobytes()


def _physics_state(env) -> bytes:
    data = env.unwrapped.data
    return b"".join(_bits(x) for x in (data.time, data.qpos, data.qvel, data.qacc_warmstart, data.cfrc_ext))


def _stock_step(env, action) -> tuple:
    out = env.step(action)
    if len(out) == 6:
        return out[:5]
    obs, reward, terminated, truncated, _ = out
    return obs, reward, 0.0, terminated, truncated


def assert_steps_identically(make, spec, seeds, steps: int, threads: int = 2, falls: bool | None = None) -> None:
    """Envs from ``make()`` stepped by the stock code and by a :class:`LocomotionSlice`; some
    episodes must end by a fall exactly when ``falls`` (by default: a task of :data:`FALLING`)."""
    falls = spec.name in FALLING if falls is None else falls
    stock = [make() for _ in seeds]
    fast = LocomotionSlice(spec, LIMIT, len(seeds), envs=[make() for _ in seeds], threads=threads)
    ends = {"terminated": 0, "truncated": 0}
    costs = set()
    try:
        expected = np.stack([env.reset(seed=seed)[0] for env, seed in zip(stock, seeds)]).astype(np.float32)
        assert np.array_equal(fast.reset(list(enumerate(seeds))), expected)
        for t, batch in enumerate(_actions(stock[0].action_space, steps, len(seeds))):
            got = fast.step_exact(batch)
            for j, env in enumerate(stock):
                want = _stock_step(env, batch[j])
                where = (spec.name, seeds[j], t)
                for name, a, b in zip(("obs", "reward", "cost"), got[:3], want[:3]):
                    assert _bits(a[j]) == _bits(b), (*where, name, a[j], b)
                assert (bool(got[3][j]), bool(got[4][j])) == (bool(want[3]), bool(want[4])), where
                assert _physics_state(fast.envs[j]) == _physics_state(env), where
                costs.add(float(want[2]))
                if want[3] or want[4]:
                    ends["terminated" if want[3] else "truncated"] += 1
                    assert np.array_equal(fast.reset([(j, None)])[0], env.reset()[0].astype(np.float32)), where
    finally:
        fast.close()
        for env in stock:
            env.close()
    assert ends["truncated"] > 0 and (ends["terminated"] > 0) == falls, ends
    if spec.name.startswith("Safety"):
        assert costs == {0.0, 1.0}, costs


def _make(task: str, **options):
    """A stock env of ``task`` with the short time limit; a safety task's velocity threshold at
    a tenth (random actions rarely run fast enough to cost)."""
    def make():
        env = make_registered(task, max_episode_steps=LIMIT, **options)
        if task.startswith("Safety"):
            env.unwrapped._velocity_threshold /= 10
        return env

    return make


@pytest.mark.parametrize("task", TASKS)
def test_fast_slice_steps_as_stock(task: str) -> None:
    assert_steps_identically(_make(task), get_task(task), seeds=[3 * TASKS.index(task) + k for k in range(3)], steps=300)


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_fast_slice_steps_as_stock_200_seeds(task: str) -> None:
    for first in range(0, 200, 20):
        assert_steps_identically(_make(task), get_task(task), seeds=list(range(first, first + 20)), steps=1000)


@pytest.mark.parametrize(("task", "options"), [
    ("Hopper-v4", dict(exclude_current_positions_from_observation=False, terminate_when_unhealthy=False,
                       healthy_z_range=(1.0, 1.3), healthy_angle_range=(-0.1, 0.1), healthy_state_range=(-5.0, 5.0),
                       ctrl_cost_weight=0.1, forward_reward_weight=2.0, healthy_reward=0.5)),
    ("Walker2d-v4", dict(exclude_current_positions_from_observation=False, healthy_z_range=(1.0, 1.4),
                         healthy_angle_range=(-0.5, 0.5), ctrl_cost_weight=0.01)),
    ("Ant-v4", dict(exclude_current_positions_from_observation=False, healthy_z_range=(0.4, 0.9), ctrl_cost_weight=0.1,
                    healthy_reward=2.0, reset_noise_scale=0.2)),
])
def test_fast_slice_follows_the_task_options(task: str, options: dict) -> None:
    """Weights, ranges and layout flags are the env's own, not the defaults."""
    assert_steps_identically(_make(task, **options), get_task(task), seeds=[0, 1, 2], steps=300, threads=1,
                             falls=options.get("terminate_when_unhealthy", True))


@pytest.mark.parametrize(("task", "options"), [
    ("Hopper-v4", {}), ("Walker2d-v4", {}), ("Ant-v4", {}),
    ("Hopper-v4", dict(healthy_state_range=(-0.05, 5.0), healthy_angle_range=(-0.1, 0.1))),  # nested ranges
])
def test_health_rules_at_their_bounds(task: str, options: dict) -> None:
    """Each bound in or out exactly as the task's ``is_healthy`` (random states never sit on one)."""
    env = make_registered(task, **options)
    task_env, rule = env.unwrapped, RULES[f"{type(env.unwrapped).__module__}:{type(env.unwrapped).__qualname__}"]
    env.reset(seed=0)
    base_qpos, base_qvel = task_env.data.qpos.copy(), task_env.data.qvel.copy()
    bounds = [b for name in ("_healthy_z_range", "_healthy_angle_range", "_healthy_state_range")
              for b in getattr(task_env, name, ())]
    states = []
    for i in range(len(base_qpos) + len(base_qvel)):
        for value in [*bounds, np.nan, np.inf]:
            state = np.concatenate((base_qpos, base_qvel))
            state[i] = value
            states.append(state)
    expected = []
    for state in states:
        task_env.data.qpos[:], task_env.data.qvel[:] = state[:len(base_qpos)], state[len(base_qpos):]
        expected.append(bool(task_env.is_healthy))
    env.close()
    assert 0 < sum(expected) < len(expected)
    assert is_inside(rule.health_box(task_env, len(states[0])), np.array(states)).tolist() == expected


def test_speed_cost_squares_as_numpy_scalars() -> None:
    """At a threshold on the speed itself, ``np.square`` and the stock ``x**2`` of numpy scalars
    give different costs; the rule gives the stock one."""
    velocity = np.random.default_rng(0).normal(scale=3.0, size=(50000, 2))
    by_square = np.sqrt(np.square(velocity).sum(axis=1))
    by_scalar_power = np.array([np.sqrt(x**2 + y**2) for x, y in velocity])
    differ = np.flatnonzero(by_square != by_scalar_power)
    assert len(differ) > 0
    for i in differ:
        threshold = min(by_square[i], by_scalar_power[i])
        x, y = velocity[i]
        assert _speed_cost(velocity[i:i + 1], threshold)[0] == (np.sqrt(x**2 + y**2) > threshold)


@pytest.mark.parametrize("env", [
    lambda: make_registered("Ant-v4", use_contact_forces=True),
    lambda: make_registered("Humanoid-v4"),
    lambda: make_registered("SafetyHumanoidVelocity-v1"),
    lambda: make_registered("SafetyHopperVelocity-v0"),
    lambda: gymnasium.wrappers.ClipAction(make_registered("Hopper-v4")),
    lambda: make_registered("Hopper-v4", render_mode="rgb_array"),
], ids=["ant-contact-forces", "humanoid", "safety-humanoid", "safety-hopper-v0", "extra-wrapper", "rendering"])
def test_other_configurations_step_the_stock_way(env) -> None:
    env = env()
    try:
        assert not LocomotionSlice.accepts(env)
        assert slice_class("fast", env, None) is StockSlice
    finally:
        env.close()


def test_the_fast_backend_picks_the_slice_and_matches_stock() -> None:
    def rollout(backend: str):
        env = make_env("SafetyHopperVelocity-v1", num_envs=4, workers=0, normalize_obs=False,
                       max_episode_steps=LIMIT, backend=backend)
        torch.manual_seed(0)
        try:
            assert isinstance(env.base_env._local, LocomotionSlice if backend == "fast" else StockSlice)
            return env.rollout(120, break_when_any_done=False)
        finally:
            env.close()

    fast, stock = rollout("fast"), rollout("stock")
    for key in (keys.OBSERVATION, ("next", keys.OBSERVATION), ("next", keys.REWARD), ("next", keys.COST),
                ("next", keys.TERMINATED), ("next", keys.TRUNCATED)):
        assert torch.equal(fast.get(key), stock.get(key)), key
    assert fast.get(("next", keys.TRUNCATED)).any() and fast.get(("next", keys.TERMINATED)).any()


def test_step_before_reset_is_refused() -> None:
    fast = LocomotionSlice(get_task("Hopper-v4"), LIMIT, 2)
    try:
        fast.reset([(0, 0)])
        with pytest.raises(gymnasium.error.ResetNeeded):
            fast.step(np.zeros((2, 3)))
    finally:
        fast.close()
