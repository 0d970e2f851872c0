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
import mujoco
import numpy as np
from gymnasium.error import ResetNeeded

from shapo_rl.envs.batched.physics_threads import PhysicsThreads
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.tasks import TaskSpec

# Threads stepping the physics of one slice (``mj_step`` releases the GIL). 1: on 2 cores that
# other processes kept busy (load 4-9), 2 threads stepped 20 envs at 0.90-1.07x the speed of one
# (Hopper, Walker2d, Ant; ``benchmarks/locomotion_step.py``): no core was free for the second.
DEFAULT_THREADS = 1


# A health rule is a box: ``(start, lower, upper)`` from the env, healthy iff every column of
# ``state_vector()[start:start + len(lower)]`` lies strictly between its bounds. Two strict
# bounds on one column are the larger lower and the smaller upper one; ``x >= m`` is exactly
# ``x > nextafter(m, -inf)`` (no double lies between); NaN fails every comparison, as in stock.


def _hopper_box(env, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``HopperEnv.is_healthy``: z (column 1) and angle (2) strictly in range, and the state
    from column 2 on strictly in ``healthy_state_range``."""
    (low, high), (min_z, max_z), (min_angle, max_angle) = (
        env._healthy_state_range, env._healthy_z_range, env._healthy_angle_range)
    lower, upper = np.full(size - 1, float(low)), np.full(size - 1, float(high))
    lower[0], upper[0] = min_z, max_z
    lower[1], upper[1] = max(min_angle, low), min(max_angle, high)
    return 1, lower, upper


def _walker_box(env, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``Walker2dEnv.is_healthy``: z (column 1) and angle (2) strictly in range."""
    (min_z, max_z), (min_angle, max_angle) = env._healthy_z_range, env._healthy_angle_range
    return 1, np.array([min_z, min_angle], dtype=np.float64), np.array([max_z, max_angle], dtype=np.float64)


def _ant_box(env, size: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``AntEnv.is_healthy``: a finite state and z (column 2) within the range, bounds included."""
    min_z, max_z = env._healthy_z_range
    lower, upper = np.full(size, -np.inf), np.full(size, np.inf)
    lower[2], upper[2] = np.nextafter(float(min_z), -np.inf), np.nextafter(float(max_z), np.inf)
    return 0, lower, upper


def is_inside(box: tuple[int, np.ndarray, np.ndarray], state: np.ndarray) -> np.ndarray:
    """Whether each row of ``state`` is healthy by ``box``."""
    start, lower, upper = box
    columns = state[:, start:start + len(lower)]
    return ((lower < columns) & (columns < upper)).all(axis=1)


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
        health_box: its ``is_healthy`` as a box (see above) built from the env and the state's
            size; None: it never terminates and has no healthy reward.
        cost: its safety cost from the ``[k, 2]`` x-y velocity and the env's threshold; None:
            no cost of its own.
    """

    dropped: int
    velocity_clip: float | None
    torso_position: bool
    health_box: Callable | None
    cost: Callable | None = None


_HOPPER = TaskRule(dropped=1, velocity_clip=10.0, torso_position=False, health_box=_hopper_box)
_WALKER = TaskRule(dropped=1, velocity_clip=10.0, torso_position=False, health_box=_walker_box)
_ANT = TaskRule(dropped=2, velocity_clip=None, torso_position=True, health_box=_ant_box)
_CHEETAH = TaskRule(dropped=1, velocity_clip=None, torso_position=False, health_box=None)
_SWIMMER = TaskRule(dropped=2, velocity_clip=None, torso_position=False, health_box=None)

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
        self._box = None if self._rule.health_box is None else self._rule.health_box(first, self._state.shape[1])
        self._before = np.empty((count, 2))
        self._after = np.empty((count, 2))
        self._physics = PhysicsThreads(count, threads)

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
        self._physics.run(self._simulate, actions)
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
        if self._box is None:
            reward = forward - ctrl_cost
        else:
            healthy = is_inside(self._box, self._state)
            stops = task._terminate_when_unhealthy
            reward = (forward + (healthy | stops) * task._healthy_reward) - ctrl_cost  # float(bool) * weight
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
        self._physics.close()
        super().close()
