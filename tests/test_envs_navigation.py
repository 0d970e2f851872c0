"""The batched navigation step returns exactly what the stock envs return (issue: fast stepping).

For each family (Goal, Button, Push, Circle; level 1; Point and Car share the code and split
the seeds), a :class:`StockSlice` and a :class:`NavigationSlice` are reset with the same seeds
and stepped with the same actions: observations, rewards, costs, terminated and truncated after
every reset and step must be identical (``np.array_equal``, not close). The actions steer
towards the target's lidar bin (so goals are met) with noise, and leave [-1, 1] (the stock env
clips them); a short time limit makes truncations, and done envs are reset with their own
generators; Point's physics steps in one thread, Car's in two. At the end the stock state the fast steps left (episode counters, the task's goal
and button bookkeeping, the random generator, MuJoCo's state) must equal the stock one, and a
few stock steps from it must agree. ``make test`` runs 3 seeds x 300 steps per agent and family
(Point truncated by the time limit wrapper, Car by the task's own ``num_steps``, shortened);
``make test-slow`` runs 200 seeds x 1,000 steps per family.
"""

from __future__ import annotations

import numpy as np
import pytest

from shapo_rl.envs.batched import slice_class
from shapo_rl.envs.batched.navigation import NavigationSlice
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.registry import get_task
from shapo_rl.envs.simulator import make_simulator

FAMILIES = {"Goal": "goal_lidar", "Button": "goal_lidar", "Push": "push_box_lidar", "Circle": None}
AGENTS = ("Point", "Car")
SLOW_SEEDS = 200
SLOW_SLICE = 20


def _target_columns(env, key: str | None) -> slice | None:
    """The columns of observation ``key`` in the flat observation of ``env``."""
    if key is None:
        return None
    column = 0
    for name, space in env.unwrapped.obs_space_dict.items():
        width = int(np.prod(space.shape))
        if name == key:
            return slice(column, column + width)
        column += width
    raise KeyError(key)


def _actions(obs: np.ndarray, columns: slice | None, agent: str, rng: np.random.Generator) -> np.ndarray:
    """Towards the brightest bin of the target's lidar, with noise; often outside [-1, 1]."""
    noise = rng.normal(0.0, 0.7, (len(obs), 2))
    if columns is None:  # Circle: straight on, across the boundary
        theta = np.full(len(obs), 0.0 if agent == "Point" else -np.pi / 2)
    else:
        lidar = obs[:, columns]
        theta = (np.argmax(lidar, axis=1) + 0.5) * 2 * np.pi / lidar.shape[1]
    if agent == "Point":  # actuators x (ahead along ego x) and z (turn)
        action = np.stack([1.6 * np.cos(theta), 2.0 * np.sin(theta)], axis=1)
    else:  # wheels left and right; the car drives along ego -y and turns left with left > right
        ahead, turn = 1.6 * np.cos(theta + np.pi / 2), 2.0 * np.sin(theta + np.pi / 2)
        action = np.stack([ahead + turn, ahead - turn], axis=1)
    return (action + noise).astype(np.float32)


def _assert_same_state(stock_env, fast_env) -> None:
    """The stock bookkeeping a following reset or stock step reads, left identical."""
    for a, b in ((stock_env, fast_env), (stock_env.env.env, fast_env.env.env)):
        assert vars(a).get("_elapsed_steps") == vars(b).get("_elapsed_steps")
        assert vars(a).get("checked_step") == vars(b).get("checked_step")
    stock, fast = stock_env.unwrapped, fast_env.unwrapped
    assert (stock.steps, stock.terminated, stock.truncated) == (fast.steps, fast.terminated, fast.truncated)
    s, f = stock.task, fast.task
    for name in ("last_dist_goal", "last_dist_box", "last_box_goal"):
        assert getattr(s, name, None) == getattr(f, name, None), name
    if hasattr(s, "buttons"):
        assert (s.buttons.timer, s.buttons.goal_button) == (f.buttons.timer, f.buttons.goal_button)
    assert s.world_info.layout.keys() == f.world_info.layout.keys()
    for key in s.world_info.layout:
        assert np.array_equal(s.world_info.layout[key], f.world_info.layout[key]), key
    rs, rf = s.random_generator.random_generator.get_state(), f.random_generator.random_generator.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(rs, rf))
    for name in ("qpos", "qvel", "act", "ctrl", "qacc_warmstart", "mocap_pos", "xpos", "sensordata"):
        assert np.array_equal(getattr(s.data, name), getattr(f.data, name)), name
    assert s.data.time == f.data.time
    assert np.array_equal(s.model.body_pos, f.model.body_pos)


def _assert_identical(x: tuple, y: tuple, where) -> None:
    for name, a, b in zip(("obs", "reward", "cost", "terminated", "truncated"), x, y):
        assert a.dtype == b.dtype and np.array_equal(a, b), (name, where)


def _own_steps(envs: list, actions: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each env's own ``step`` (float64 actions, as the slices pass them), stacked."""
    out = [env.step(action)[:5] for env, action in zip(envs, actions.astype(np.float64))]
    return tuple(np.array(column, dtype=dtype) for column, dtype in zip(zip(*out), (None, None, None, bool, bool)))


def _compare(task: str, target: str | None, seeds: list[int], steps: int, max_episode_steps: int,
             task_steps: int | None = None) -> dict[str, int]:
    """Run both slices on ``task`` from ``seeds`` (``task_steps``: the tasks' own ``num_steps``
    limit in place of theirs); the events seen (goals met, costs, truncations)."""
    spec = get_task(task)
    agent = "Point" if "Point" in task else "Car"
    stock = StockSlice(spec, max_episode_steps, len(seeds))
    fast = NavigationSlice(spec, max_episode_steps, len(seeds), threads=1 if agent == "Point" else 2)
    for env in (*stock.envs, *fast.envs):
        env.unwrapped.task.num_steps = task_steps or env.unwrapped.task.num_steps
    events = {"goals": 0, "costs": 0, "truncations": 0, "clipped": 0}
    try:
        columns = _target_columns(stock.envs[0], target)
        rng = np.random.default_rng(seeds[0])
        requests = list(enumerate(seeds))
        obs = stock.reset(requests)
        assert np.array_equal(obs, fast.reset(requests)), (task, "reset")
        for t in range(steps):
            actions = _actions(obs, columns, agent, rng)
            events["clipped"] += int((np.abs(actions) > 1).sum())
            if t % 2:  # the slice contract: float32, as StockSlice.step
                expected = stock.step(actions)
                _assert_identical(expected, fast.step(actions), (task, seeds, t))
            else:  # in float64, as each env's own step returns
                expected = _own_steps(stock.envs, actions)
                _assert_identical(expected, fast.step_exact(actions), (task, seeds, t))
            obs, reward, cost, terminated, truncated = expected
            events["goals"] += int((reward > 0.5).sum())
            events["costs"] += int((cost > 0).sum())
            events["truncations"] += int(truncated.sum())
            done = [(int(j), None) for j in np.flatnonzero(terminated | truncated)]
            if done:
                restarted = stock.reset(done)
                assert np.array_equal(restarted, fast.reset(done)), (task, seeds, t, "reset")
                obs[[j for j, _ in done]] = restarted
        for stock_env, fast_env in zip(stock.envs, fast.envs):
            _assert_same_state(stock_env, fast_env)
            for action in _actions(np.zeros((5, stock_env.observation_space.shape[0])), None, agent, rng):
                if stock_env.unwrapped.done:
                    break
                a, b = stock_env.step(action.astype(np.float64)), fast_env.step(action.astype(np.float64))
                for x, y in zip(a[:5], b[:5]):
                    assert np.array_equal(x, y), (task, "stock step after the fast ones")
    finally:
        stock.close()
        fast.close()
    return events


def _tasks(family: str) -> list[str]:
    return [f"Safety{agent}{family}1-v0" for agent in AGENTS]


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_navigation_step_is_the_stock_step(family: str) -> None:
    events = {}
    point, car = _tasks(family)
    runs = [(point, {"max_episode_steps": 120}),  # the time limit wrapper truncates
            (car, {"max_episode_steps": 1000, "task_steps": 130})]  # Builder.step's own limit does
    for task, limits in runs:
        for key, count in _compare(task, FAMILIES[family], seeds=[3, 4, 5], steps=300, **limits).items():
            events[key] = events.get(key, 0) + count
    assert events["truncations"] > 0 and events["clipped"] > 0
    if family != "Push":  # the box reaches its goal rarely
        assert events["costs"] > 0, events
    if family in ("Goal", "Button"):
        assert events["goals"] > 0, events


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_fast_navigation_step_is_the_stock_step_200_seeds(family: str) -> None:
    events = {}
    seeds = np.arange(SLOW_SEEDS).reshape(-1, SLOW_SLICE)
    for i, chunk in enumerate(seeds):
        task = _tasks(family)[i % len(AGENTS)]
        max_steps = 1000 if family == "Circle" else 350  # Circle: the task's own 500-step limit
        for key, count in _compare(task, FAMILIES[family], [int(s) for s in chunk], steps=1000, max_episode_steps=max_steps).items():
            events[key] = events.get(key, 0) + count
    print(family, events)
    assert events["truncations"] > 0 and events["costs"] > 0, events
    if family != "Circle":
        assert events["goals"] > 0, events


def test_the_fast_backend_steps_navigation_tasks_and_only_those() -> None:
    def chosen(task: str, **kwargs):
        return slice_class("fast", make_simulator(get_task(task), 100, kwargs.get("render_mode")), kwargs.get("render_mode"))

    assert chosen("SafetyPointGoal1-v0") is NavigationSlice
    assert chosen("SafetyCarButton1-v0") is NavigationSlice
    assert chosen("SafetyPointGoal2-v0") is StockSlice  # a level not checked
    assert chosen("SafetyPointGoal1-v0", render_mode="rgb_array") is StockSlice
    assert slice_class("stock", make_simulator(get_task("SafetyPointGoal1-v0"), 100, None), None) is StockSlice


def test_ego_xy_is_the_per_position_product_on_this_cpu() -> None:
    """BaseTask._ego_xy multiplies one 3-vector by the agent's matrix; the batched form must take
    the same kernel (a matrix-matrix stack is 1 ulp off on some CPUs' BLAS)."""
    import mujoco

    from shapo_rl.envs.batched.navigation_maths import ego_xy

    rng = np.random.default_rng(0)
    k, n = 8, 12
    quats = rng.normal(size=(k, 4))
    mats = np.empty((k, 9))
    for mat, quat in zip(mats, quats / np.linalg.norm(quats, axis=1, keepdims=True)):
        mujoco.mju_quat2Mat(mat, quat)
    mats = mats.reshape(k, 3, 3)
    for _ in range(50):
        positions, agents = rng.normal(size=(k, n, 3)) * 3, rng.normal(size=(k, 3))
        batched = ego_xy(positions, agents, mats)
        for i in range(k):
            for j in range(n):
                stock = np.matmul(np.array([*positions[i, j, :2], 0.0]) - agents[i], mats[i])[:2]
                assert np.array_equal(batched[i, j], stock), (i, j)
