"""The fast slice of the MuJoCo locomotion tasks: each env's own physics, the rest in array form.

Covered: gymnasium's ``Hopper-v4``, ``Walker2d-v4``, ``Ant-v4``, ``HalfCheetah-v4`` and
``Swimmer-v4`` and their safety-gymnasium velocity twins (``Safety*Velocity-v1``). MuJoCo still
steps every env's own model and data, as ``MujocoEnv.do_simulation`` does (``ctrl`` set to the
action, ``mj_step`` for ``frame_skip`` steps, then ``mj_rnePostConstraint``); what each task's
``step`` computes around it (``_get_obs``, ``control_cost``, ``is_healthy``, ``healthy_reward``,
``terminated``, the forward velocity and the safety cost) is computed once for the slice over
the stacked ``qpos``/``qvel``/torso positions, from the task's own parameters (weights, ranges,
the exclusion of current positions, ``terminate_when_unhealthy``, the velocity threshold). The
wrappers ``make`` puts around the env add numbers only through ``TimeLimit`` (truncated once
``max_episode_steps`` steps passed since the reset), reproduced here; ``OrderEnforcing`` refuses
a step before the first reset (so does this slice); the passive checker only warns. No wrapper
clips actions: the physics gets the action as given (MuJoCo clamps ``ctrl`` itself) and the
control cost is that of the unclipped action, as in the stock step. Resets are each env's own.

Every value is bit-identical to the stock step's: the maths is elementwise IEEE arithmetic in the
same order, the row sums of the control cost go through numpy's same pairwise sum as the stock
1-D sum, and the speed of the velocity cost squares with ``np.power`` (C ``pow``), as the stock
``x_velocity**2`` on numpy scalars does (``np.square`` differs from it in the last bit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
from gymnasium.error import ResetNeeded

from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.tasks import TaskSpec

# Threads stepping the physics of one slice (``mj_step`` releases the GIL): measured on 2 shared
# cores, 20 envs (see ``benchmarks/locomotion_step.py``).
DEFAULT_THREADS = 1


def _hopper_healthy(env, state: np.ndarray) -> np.ndarray:
    """``HopperEnv.is_healthy``: state (all but x and z) and z and angle strictly in range."""
    (low, high), (min_z, max_z), (min_angle, max_angle) = (
        env._healthy_state_range, env._healthy_z_range, env._healthy_angle_range)
    rest, z, angle = state[:, 2:], state[:, 1], state[:, 2]
    return (((low < rest) & (rest < high)).all(axis=1) & (min_z < z) & (z < max_z)
            & (min_angle < angle) & (angle < max_angle))


def _walker_healthy(env, state: np.ndarray) -> np.ndarray:
    """``Walker2dEnv.is_healthy``: z and angle strictly in range."""
    (min_z, max_z), (min_angle, max_angle) = env._healthy_z_range, env._healthy_angle_range
    z, angle = state[:, 1], state[:, 2]
    return (min_z < z) & (z < max_z) & (min_angle < angle) & (angle < max_angle)


def _ant_healthy(env, state: np.ndarray) -> np.ndarray:
    """``AntEnv.is_healthy``: a finite state and the torso's z within the range, bounds included."""
    min_z, max_z = env._healthy_z_range
    return np.isfinite(state).all(axis=1) & (min_z <= state[:, 2]) & (state[:, 2] <= max_z)


def _forward_velocity_cost(velocity: np.ndarray, threshold: float) -> np.ndarray:
    """The Hopper, Walker2d, HalfCheetah and Swimmer (v1) velocity tasks: ``x_velocity > threshold``."""
    return velocity[:, 0] > threshold


def _speed_cost(velocity: np.ndarray, threshold: float) -> np.ndarray:
    """The Ant velocity task: ``sqrt(x_velocity**2 + y_velocity**2) > threshold`` (``**`` as C ``pow``)."""
    return np.sqrt(np.power(velocity[:, 0], 2.0) + np.power(velocity[:, 1], 2.0)) > threshold


@dataclasses.dataclass(frozen=True)
class TaskRule:
    """What one task class's ``step`` computes around the physics.

    Attributes:
        dropped: leading ``qpos`` entries its observation leaves out when it excludes the
            current positions.
        velocity_clip: bound of ``qvel`` in its observation (clipped to ``[-bound, bound]``), if any.
        torso_position: its velocity is that of the torso body's ``xpos`` (else of ``qpos[:2]``).
        healthy: its ``is_healthy`` over the stacked ``state_vector()`` (``qpos`` then ``qvel``;
            the env gives the ranges); None: it never terminates and has no healthy reward.
        cost: its safety cost from the ``[k, 2]`` x-y velocity and the env's threshold; None:
            no cost of its own.
    """

    dropped: int
    velocity_clip: float | None
    torso_position: bool
    healthy: Callable | None
    cost: Callable | None = None


_HOPPER = TaskRule(dropped=1, velocity_clip=10.0, torso_position=False, healthy=_hopper_healthy)
_WALKER = TaskRule(dropped=1, velocity_clip=10.0, torso_position=False, healthy=_walker_healthy)
_ANT = TaskRule(dropped=2, velocity_clip=None, torso_position=True, healthy=_ant_healthy)
_CHEETAH = TaskRule(dropped=1, velocity_clip=None, torso_position=False, healthy=None)
_SWIMMER = TaskRule(dropped=2, velocity_clip=None, torso_position=False, healthy=None)

_SAFE = "safety_gymnasium.tasks.safe_velocity."
# Task classes by "module:qualname" (exact classes: a subclass may step differently).
RULES: dict[str, TaskRule] = {
    "gymnasium.envs.mujoco.hopper_v4:HopperEnv": _HOPPER,
    "gymnasium.envs.mujoco.walker2d_v4:Walker2dEnv": _WALKER,
    "gymnasium.envs.mujoco.ant_v4:AntEnv": _ANT,
    "gymnasium.envs.mujoco.half_cheetah_v4:HalfCheetahEnv": _CHEETAH,
    "gymnasium.envs.mujoco.swimmer_v4:SwimmerEnv": _SWIMMER,
    f"{_SAFE}safety_hopper_velocity_v1:SafetyHopperVelocityEnv": dataclasses.replace(_HOPPER, cost=_forward_velocity_cost),
    f"{_SAFE}safety_walker2d_velocity_v1:SafetyWalker2dVelocityEnv": dataclasses.replace(_WALKER, cost=_forward_velocity_cost),
    f"{_SAFE}safety_ant_velocity_v1:SafetyAntVelocityEnv": dataclasses.replace(_ANT, cost=_speed_cost),
    f"{_SAFE}safety_half_cheetah_velocity_v1:SafetyHalfCheetahVelocityEnv": dataclasses.replace(_CHEETAH, cost=_forward_velocity_cost),
    f"{_SAFE}safety_swimmer_velocity_v1:SafetySwimmerVelocityEnv": dataclasses.replace(_SWIMMER, cost=_forward_velocity_cost),
}

# The wrappers ``make`` puts around these tasks, each reproduced (or without effect on numbers).
_TIME_LIMITS = ("gymnasium.wrappers.time_limit:TimeLimit", "safety_gymnasium.wrappers.time_limit:SafeTimeLimit")
_PASSTHROUGH = ("gymnasium.wrappers.order_enforcing:OrderEnforcing",
                "gymnasium.wrappers.env_checker:PassiveEnvChecker",
                "safety_gymnasium.wrappers.env_checker:SafePassiveEnvChecker")


def _class_name(obj) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _wrappers(env) -> list:
    chain = []
    while hasattr(env, "env"):
        chain.append(env)
        env = env.env
    return chain


class LocomotionSlice(StockSlice):
    """A slice of one locomotion task: the physics env by env (in ``threads`` threads), the
    observations, rewards, costs, terminations and time limits batched.

    ``step_exact`` gives the float64 values of the stock step (observation, reward, cost) and
    ``step`` casts them as :class:`StockSlice` does. The wrappers' own counters (``TimeLimit``'s
    elapsed steps) stay at their reset values: this slice keeps them.
    """

    def __init__(self, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None = None,
                 envs: list | None = None, threads: int = DEFAULT_THREADS):
        super().__init__(spec, max_episode_steps, count, render_mode, envs)
        self._tasks = [env.unwrapped for env in self.envs]
        first = self._tasks[0]
        self._rule = RULES[_class_name(first)]
        self._limit = next(w for w in _wrappers(self.envs[0]) if _class_name(w) in _TIME_LIMITS)._max_episode_steps
        self._dt = first.dt
        self._frame_skip = first.frame_skip
        self._torso = first.model.body("torso").id if self._rule.torso_position else None
        self._dropped = self._rule.dropped if first._exclude_current_positions_from_observation else 0
        self._elapsed = np.zeros(count, dtype=np.int64)
        self._was_reset = np.zeros(count, dtype=bool)
        self._actions_shape = (count, *self.envs[0].action_space.shape)
        self._nq = first.model.nq
        self._state = np.empty((count, first.model.nq + first.model.nv))  # each env's state_vector()
        self._before = np.empty((count, 2))
        self._after = np.empty((count, 2))
        self._chunks = [chunk for chunk in np.array_split(np.arange(count), max(1, min(threads, count))) if len(chunk)]
        self._pool = ThreadPoolExecutor(len(self._chunks) - 1) if len(self._chunks) > 1 else None

    @classmethod
    def accepts(cls, env) -> bool:
        """Whether ``env`` is a covered task class, as ``make`` wraps it, not rendering, and
        without the one option stepped otherwise (Ant's contact forces)."""
        task = env.unwrapped
        wrappers = [_class_name(w) for w in _wrappers(env)]
        return (_class_name(task) in RULES and task.render_mode is None
                and sum(name in _TIME_LIMITS for name in wrappers) == 1
                and all(name in _TIME_LIMITS or name in _PASSTHROUGH for name in wrappers)
                and not getattr(task, "_use_contact_forces", False))

    def reset(self, requests: list[tuple[int, int | None]]) -> np.ndarray:
        obs = super().reset(requests)
        rows = [j for j, _ in requests]
        self._elapsed[rows] = 0
        self._was_reset[rows] = True
        return obs

    def _position(self, data) -> np.ndarray:
        return data.xpos[self._torso, :2] if self._torso is not None else data.qpos[:2]

    def _simulate(self, rows: np.ndarray, actions: np.ndarray) -> None:
        """``do_simulation`` of env ``j`` for each of ``rows``, recording its state around it."""
        for j in rows:
            model, data = self._tasks[j].model, self._tasks[j].data
            self._before[j] = self._position(data)
            data.ctrl[:] = actions[j]
            mujoco.mj_step(model, data, nstep=self._frame_skip)
            mujoco.mj_rnePostConstraint(model, data)
            self._after[j] = self._position(data)
            self._state[j, :self._nq] = data.qpos
            self._state[j, self._nq:] = data.qvel

    def step_exact(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step env ``j`` with ``actions[j]``: float64 observations, rewards and costs, terminated
        and truncated, each as the stock step and its ``TimeLimit`` give them."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != self._actions_shape:
            raise ValueError(f"expected actions of shape {self._actions_shape}, got {actions.shape}")
        if not self._was_reset.all():
            raise ResetNeeded("Cannot call env.step() before calling env.reset()")
        pending = [self._pool.submit(self._simulate, rows, actions) for rows in self._chunks[1:]] if self._pool else []
        self._simulate(self._chunks[0], actions)
        for future in pending:
            future.result()
        task, rule = self._tasks[0], self._rule
        velocity = (self._after - self._before) / self._dt
        ctrl_cost = task._ctrl_cost_weight * np.square(actions).sum(axis=1)
        weight = getattr(task, "_forward_reward_weight", None)  # Ant's forward reward has none
        forward = velocity[:, 0] if weight is None else weight * velocity[:, 0]
        obs = self._state[:, self._dropped:].copy()
        if rule.velocity_clip is not None:  # np.clip's very values (NaN, signed zeros), at less per-call cost
            qvel = obs[:, self._nq - self._dropped:]
            np.minimum(np.maximum(qvel, -rule.velocity_clip, out=qvel), rule.velocity_clip, out=qvel)
        terminated = np.zeros(len(self.envs), dtype=bool)
        if rule.healthy is None:
            reward = forward - ctrl_cost
        else:
            healthy = rule.healthy(task, self._state)
            stops = task._terminate_when_unhealthy
            reward = (forward + (healthy | stops).astype(np.float64) * task._healthy_reward) - ctrl_cost
            if stops:
                terminated = ~healthy
        cost = np.zeros(len(self.envs)) if rule.cost is None else rule.cost(velocity, task._velocity_threshold).astype(np.float64)
        self._elapsed += 1
        return obs, reward, cost, terminated, self._elapsed >= self._limit

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """:meth:`step_exact`, observations, rewards and costs cast to float32."""
        obs, reward, cost, terminated, truncated = self.step_exact(actions)
        return obs.astype(np.float32), reward.astype(np.float32), cost.astype(np.float32), terminated, truncated

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        super().close()
