"""Worlds compiled without the skybox image step exactly as the stock ones (issue 13).

For each navigation task of the papers: reset with a seed, then 50 steps of a fixed action
sequence, once in a stock env and once :func:`without_skybox`; observations, rewards, costs,
terminated and truncated must be identical (not close). ``make test`` checks one seed per task
(a stock reset compiles the 191 MB sky, ~1 s); ``make test-slow`` checks 200.
"""

from __future__ import annotations

import numpy as np
import pytest

from shapo_rl.envs import make_env
from shapo_rl.envs.discovery import make_registered
from shapo_rl.envs.skybox import TINY_SKYBOX, replace_skybox, without_skybox

NAVIGATION = ("SafetyPointGoal1-v0", "SafetyPointButton1-v0", "SafetyCarGoal1-v0", "SafetyCarCircle1-v0")
STEPS = 50
SLOW_SEEDS = 200


def _trajectory(env, seed: int, actions: np.ndarray) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    out = [(obs,)]
    for action in actions:
        obs, reward, cost, terminated, truncated, _ = env.step(action)
        out.append((obs, reward, cost, terminated, truncated))
        if terminated or truncated:
            break
    return out


def _assert_identical(task: str, seeds) -> None:
    stock, skyless = make_registered(task), make_registered(task)
    space = stock.action_space
    actions = np.random.default_rng(13).uniform(space.low, space.high, (STEPS, *space.shape))
    try:
        for seed in seeds:
            expected = _trajectory(stock, seed, actions)
            with without_skybox():
                got = _trajectory(skyless, seed, actions)
            assert len(got) == len(expected), (task, seed)
            for t, (a, b) in enumerate(zip(expected, got)):
                for x, y in zip(a, b):
                    assert np.array_equal(np.asarray(x), np.asarray(y)), (task, seed, t)
            assert skyless.unwrapped.task.world.model.ntexdata < stock.unwrapped.task.world.model.ntexdata / 1000
    finally:
        stock.close()
        skyless.close()


def test_only_the_skybox_element_changes() -> None:
    xml = ('<asset><texture type="skybox" fileright="a.png" fileup="b.png"></texture>'
           '<texture name="matplane" builtin="checker" type="2d"></texture></asset>')
    assert replace_skybox(xml) == f'<asset>{TINY_SKYBOX}<texture name="matplane" builtin="checker" type="2d"></texture></asset>'


@pytest.mark.parametrize("task", NAVIGATION)
def test_skybox_free_worlds_step_identically(task: str) -> None:
    _assert_identical(task, seeds=[NAVIGATION.index(task)])


@pytest.mark.slow
@pytest.mark.parametrize("task", NAVIGATION)
def test_skybox_free_worlds_step_identically_200_seeds(task: str) -> None:
    _assert_identical(task, seeds=range(SLOW_SEEDS))


def test_envs_that_render_keep_the_sky() -> None:
    def texels(render_mode):
        env = make_env("SafetyPointGoal1-v0", num_envs=1, workers=0, render_mode=render_mode)
        env.reset()
        try:
            return env.base_env._local.envs[0].unwrapped.task.world.model.ntexdata
        finally:
            env.close()

    assert texels(None) < 1e6 < 1e8 < texels("rgb_array")
