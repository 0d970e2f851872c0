"""The fast backend for safety-gymnasium's navigation tasks: one batched step for a slice of envs.

:class:`NavigationSlice` keeps each env's stock objects (``safety_gymnasium.make``'s wrappers
around a ``Builder`` and its task) and resets them with their own code. A step lets MuJoCo step
each env's own model and data (in ``threads`` threads: ``mj_step`` releases the GIL), gathers
from each env's data the few arrays a step reads (agent pose, obstacle positions, sensors,
contacts), then computes what ``Builder.step`` computes around the physics once for the whole
slice with array operations: reward, cost, goals met, lidar and sensor observations, the
observation space check, the time limits. A goal met (rare) is processed by the stock code of
that env (``update_layout``, ``update_world``), as ``Builder.step`` does.

What it reproduces of one stock step (safety-gymnasium 1.0.0, gymnasium wrappers included):

* ``SafeTimeLimit``: ``_elapsed_steps`` and its truncation; ``OrderEnforcing``: no step before
  a reset; ``SafePassiveEnvChecker``: its first-step check only warns, and is marked done;
* ``Builder.step``: the not-done assertion, the action shape check, ``steps`` and the task's
  ``num_steps`` truncation, the reward clip (and its warning), ``constrain_indicator``, goal
  processing with ``continue_goal`` and ``terminate_resample_failure``;
* ``Underlying.simulation_forward``: the action clipped to ``actuator_ctrlrange`` into
  ``ctrl``, the frameskip drawn by ``random_generator.binomial`` (same generator, same order),
  the gremlins' mocap positions before every substep, ``mj_step`` per substep, ``mj_forward``
  after. The stock step calls ``mj_forward`` twice more on the same state (in ``calculate_cost``
  and ``obs``). These are not idle: each constraint solve starts from and rewrites
  ``qacc_warmstart``, so the next step's physics (and the accelerometer) depends on how many
  ran; all three run. (Skipping the position and velocity stages of the repeats with
  ``mj_forwardSkip`` is exact for Point but not for Car: the solver's state from the position
  stage differs.) No ``MujocoException`` can arise (safety-gymnasium installs no MuJoCo
  warning callback);
* ``BaseTask.obs``: sensors, pseudo lidar, the ``Box.contains`` assertion, ``flatten``.

It does not keep ``Builder.cost`` (the per-obstacle cost dict), which only ``render`` reads; a
slice that renders steps the stock way. :meth:`NavigationSlice.accepts` admits exactly the
tasks and settings this reproduces and has been tested on.
"""

from __future__ import annotations

import mujoco
import numpy as np

from shapo_rl.envs.batched.navigation_maths import ego_xy, pseudo_lidar, quat2mat
from shapo_rl.envs.batched.navigation_tasks import (
    CONSTRAINED,
    CONTACT_PREFIXES,
    ButtonRules,
    CircleRules,
    Contacts,
    GoalRules,
    PushRules,
    StepView,
    constraint_violations,
)
from shapo_rl.envs.batched.physics_threads import PhysicsThreads
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.tasks import TaskSpec

# Task class name -> its rules: the levels checked against the stock env (tests/test_envs_navigation.py).
RULES = {"GoalLevel1": GoalRules, "ButtonLevel1": ButtonRules, "PushLevel1": PushRules, "CircleLevel1": CircleRules}
AGENTS = ("Point", "Car")
# The bodies whose xpos each obstacle's ``pos`` property reads (``Hazards.pos``, ``Gremlins.pos``, ...).
BODY_NAMES = {"hazards": "hazard{i}", "vases": "vase{i}", "buttons": "button{i}", "gremlins": "gremlin{i}obj",
              "pillars": "pillar{i}", "goal": "goal", "push_box": "push_box"}
# Physics threads of a slice: on 2 shared cores, 20 envs of SafetyPointGoal1-v0 stepped 0.95-1.7x (once 2.7x)
# as fast with 2 threads as with 1 (benchmarks/navigation_step.py, medians of 3 rounds in five
# runs, other users' load 4-10; about 1x whenever the load left no second core).
DEFAULT_THREADS = 2


def _stack(env) -> tuple:
    """``(time limit, order enforcing, env checker, builder)`` of ``safety_gymnasium.make``'s env."""
    return env, env.env, env.env.env, env.env.env.env


def _body_names(obstacle) -> list[str]:
    pattern = BODY_NAMES[obstacle.name]
    return [pattern.format(i=i) for i in range(obstacle.num)] if "{i}" in pattern else [pattern]


class _EnvHandles:
    """What a step uses of one env's world (rebuilt by every reset): its model and data, views
    of the data's arrays, the ids of the bodies, sensors and mocaps it reads, its frameskip draw."""

    def __init__(self, task, body_names: list[str], layout: list, gremlins) -> None:
        self.model, self.data = model, data = task.model, task.data
        self.bodies = np.array([model.body(name).id for name in body_names])
        self.agent = model.body("agent").id
        columns = []
        for key, kind, _, _ in layout:
            if kind != "lidar":
                sensor = model.sensor(key).id
                columns.extend(range(model.sensor_adr[sensor], model.sensor_adr[sensor] + model.sensor_dim[sensor]))
        self.sensor_columns = np.array(columns)
        self.mocaps = None if gremlins is None else np.array(
            [model.body_mocapid[model.body(f"gremlin{i}mocap").id] for i in range(gremlins.num)])
        self.xpos, self.agent_xmat, self.sensordata = data.xpos, data.xmat[self.agent], data.sensordata
        self.ctrl, self.mocap_pos, self.qvel = data.ctrl, data.mocap_pos, data.qvel
        self.frameskip = task.random_generator.binomial
        self.frameskip_args = (task.sim_conf.frameskip_binom_n, task.sim_conf.frameskip_binom_p)


class NavigationSlice(StockSlice):
    """A slice of safety-gymnasium navigation envs whose step is batched (see the module doc).

    Same constructor and methods as :class:`StockSlice`, which resets; ``threads`` is how many
    threads step the physics (each a contiguous share of the envs).
    """

    # mj_forward calls of a stock step once the physics stepped: simulation_forward's, calculate_cost's, obs's.
    FORWARDS = 3

    def __init__(self, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None = None,
                 envs: list | None = None, threads: int = DEFAULT_THREADS):
        super().__init__(spec, max_episode_steps, count, render_mode, envs)
        stacks = [_stack(env) for env in self.envs]
        self._limits, self._orders, self._checkers, self._builders = (list(column) for column in zip(*stacks))
        self._tasks = [builder.task for builder in self._builders]
        task = self._tasks[0]
        self._rules = RULES[type(task).__name__](task)
        self._lidar_obstacles = [o for o in task._obstacles if o.is_lidar_observed]  # noqa: SLF001
        # The lidar group of each position a lidar sees; Circle.pos is one point, the origin.
        self._lidar_groups = np.concatenate([np.full(len(_body_names(o)) if o.name in BODY_NAMES else 1, g)
                                             for g, o in enumerate(self._lidar_obstacles)])
        self._needs_contacts = self._rules.needs_contacts or any(
            o.is_constrained and o.name in CONTACT_PREFIXES for o in task._obstacles)  # noqa: SLF001
        self._gremlins = task._mocaps.get("gremlins")  # noqa: SLF001
        groups = {o.name: _body_names(o) for o in task._obstacles if o.name in BODY_NAMES}  # noqa: SLF001
        self._groups: dict[str, slice] = {}
        self._body_list = ["agent"]
        for name, bodies in groups.items():
            self._groups[name] = slice(len(self._body_list), len(self._body_list) + len(bodies))
            self._body_list += bodies
        self._layout, self._low, self._high = self._observation_layout(task)
        k, nbody = len(self.envs), len(self._body_list)
        self._positions = np.zeros((k, nbody, 3))
        self._mats = np.zeros((k, 9))
        self._sensors = np.zeros((k, self._sensor_width))
        self._velocities = np.zeros((k, 3))
        self._contacts = [(np.zeros(0, np.int64), np.zeros(0, np.int64))] * k
        self._handles: list = [None] * k
        self._ctrl_low = np.zeros((k, task.agent.body_info.nu))
        self._ctrl_high = np.zeros_like(self._ctrl_low)
        self._tables: dict[str, np.ndarray] = {}
        self._physics = PhysicsThreads(k, threads)

    @classmethod
    def accepts(cls, env) -> bool:
        """Whether ``env`` is a safety-gymnasium navigation task whose step this slice reproduces
        exactly: a level and agent in :data:`RULES` and :data:`AGENTS`, stock settings (no vision,
        pseudo lidar with aliasing and a linear range, no action noise, indicator costs, goals
        resampled), observed only through sensors and lidars of known obstacles."""
        if "safety_gymnasium" not in type(env.unwrapped).__module__:
            return False
        from safety_gymnasium.builder import Builder

        try:
            limit, order, checker, builder = _stack(env)
        except AttributeError:
            return False
        names = [type(w).__name__ for w in (limit, order, checker)]
        if names != ["SafeTimeLimit", "OrderEnforcing", "SafePassiveEnvChecker"] or type(builder) is not Builder:
            return False
        task = builder.task
        lidar, agent = task.lidar_conf, task.agent
        if type(task).__name__ not in RULES or type(agent).__name__ not in AGENTS:
            return False
        if not type(task).__module__.startswith("safety_gymnasium.tasks.safe_navigation."):
            return False
        settings = (not task.observe_vision, task.observation_flatten, not task.debug, not task.action_noise,
                    lidar.type == "pseudo", lidar.alias, lidar.max_dist is not None,
                    not task.reward_conf.reward_orientation, task.cost_conf.constrain_indicator,
                    task.mechanism_conf.continue_goal, task.mechanism_conf.terminate_resample_failure,
                    not task._is_load_static_geoms, agent.sensor_conf.sensors_angle_components,  # noqa: SLF001
                    builder.render_parameters.mode is None)
        if not all(settings):
            return False
        obstacles = task._obstacles  # noqa: SLF001
        if any(o.is_constrained and o.name not in CONSTRAINED for o in obstacles):
            return False
        if any(o.is_lidar_observed and o.name not in (*BODY_NAMES, "circle") for o in obstacles):
            return False
        info = agent.sensor_info
        if info.hinge_pos_names or info.freejoint_pos_name or info.freejoint_qvel_name:
            return False
        try:
            cls._observation_layout(task)
        except KeyError:
            return False
        return True

    @staticmethod
    def _observation_layout(task) -> tuple[list, np.ndarray, np.ndarray]:
        """The flat observation's segments ``(key, kind, first column, width)`` in ``flatten``'s
        order (the space's keys), and its bounds; ``KeyError`` for a key of no known kind."""
        info = task.agent.sensor_info
        raw = (*task.agent.sensor_conf.sensors, *info.hinge_vel_names, *info.ballangvel_names)
        lidars = {f"{o.name}_lidar" for o in task._obstacles if o.is_lidar_observed}  # noqa: SLF001
        layout, low, high, column = [], [], [], 0
        for key, space in task.obs_info.obs_space_dict.items():
            width = int(np.prod(space.shape))
            if key in raw:
                kind = "sensor"
            elif key in info.ballquat_names:
                kind = "ballquat"
            elif key in lidars:
                kind = "lidar"
            else:
                raise KeyError(key)
            layout.append((key, kind, column, width))
            low.append(np.asarray(space.low, dtype=np.float64).reshape(-1))
            high.append(np.asarray(space.high, dtype=np.float64).reshape(-1))
            column += width
        return layout, np.concatenate(low), np.concatenate(high)

    @property
    def _sensor_width(self) -> int:
        return sum(4 if kind == "ballquat" else width for _, kind, _, width in self._layout if kind != "lidar")

    # -- reset -------------------------------------------------------------------------------

    def reset(self, requests: list[tuple[int, int | None]]) -> np.ndarray:
        """The stock reset (see :class:`StockSlice`), then this slice's handles on the new world."""
        obs = super().reset(requests)
        for j, _ in requests:
            self._refresh(j)
        return obs

    def _refresh(self, j: int) -> None:
        """Env ``j``'s model and data (rebuilt by every reset) and the ids and tables read from them."""
        task = self._tasks[j]
        self._handles[j] = handles = _EnvHandles(task, self._body_list, self._layout, self._gremlins)
        self._ctrl_low[j], self._ctrl_high[j] = handles.model.actuator_ctrlrange.T
        if self._needs_contacts:
            self._refresh_tables(j, handles.model, task)
        self._gather(j)

    def _refresh_tables(self, j: int, model, task) -> None:
        """Env ``j``'s per-geom properties, by geom name as the stock ``cal_cost`` tests them."""
        names = [model.geom(g).name for g in range(model.ngeom)]
        agent_geoms = set(task.agent.body_info.geom_names)
        rows = {"agent": [n in agent_geoms for n in names]}
        for obstacle, prefix in CONTACT_PREFIXES.items():
            rows[obstacle] = [n.startswith(prefix) for n in names]
        buttons = {f"button{i}": i for i in range(task.buttons.num)} if "buttons" in task._geoms else {}  # noqa: SLF001
        rows["button_index"] = [buttons.get(n, -1) for n in names]
        for key, row in rows.items():
            table = self._tables.get(key)
            if table is None or table.shape[1] != len(row):
                table = self._tables[key] = np.zeros((len(self.envs), len(row)), dtype=np.asarray(row).dtype)
            table[j] = row

    # -- step ----------------------------------------------------------------------------------

    def _gather(self, j: int) -> None:
        """Copy what a step reads from env ``j``'s data into the slice's arrays."""
        env = self._handles[j]
        self._positions[j] = env.xpos[env.bodies]
        self._mats[j] = env.agent_xmat
        self._sensors[j] = env.sensordata[env.sensor_columns]
        if self._needs_contacts:
            contact = env.data.contact
            self._contacts[j] = (contact.geom1.copy(), contact.geom2.copy())
        if self._rules.needs_velocity:
            jacp = np.zeros((3, env.model.nv))
            mujoco.mj_jacBody(env.model, env.data, jacp, None, env.agent)
            self._velocities[j] = np.dot(jacp, env.qvel)  # task_utils.get_body_xvelp

    def _advance(self, rows: np.ndarray, ctrl: np.ndarray, mocap_targets: np.ndarray | None) -> None:
        """``simulation_forward`` of envs ``rows`` (``ctrl`` already clipped), then :meth:`_gather`."""
        for j in rows:
            env = self._handles[j]
            model, data = env.model, env.data
            env.ctrl[:] = ctrl[j]
            substeps = env.frameskip(*env.frameskip_args)
            if env.mocaps is None:
                if substeps:
                    mujoco.mj_step(model, data, nstep=substeps)
            else:
                for s in range(substeps):
                    env.mocap_pos[env.mocaps] = mocap_targets[j, s]
                    mujoco.mj_step(model, data)
            for _ in range(self.FORWARDS):
                mujoco.mj_forward(model, data)
            self._gather(j)

    def _mocap_targets(self) -> np.ndarray | None:
        """``Gremlins.move`` before each substep ``s``: ``[sin t, cos t] * travel, size`` at the
        data's time ``t`` then, which ``mj_step`` advances by ``+= timestep``; ``[k, n, 3]``."""
        if self._gremlins is None:
            return None
        n = self._tasks[0].sim_conf.frameskip_binom_n
        times = np.empty((len(self.envs), n))
        times[:, 0] = [env.data.time for env in self._handles]
        timestep = np.array([env.model.opt.timestep for env in self._handles])
        for s in range(1, n):
            times[:, s] = times[:, s - 1] + timestep
        targets = np.empty(times.shape + (3,))
        targets[..., 0] = np.sin(times) * self._gremlins.travel
        targets[..., 1] = np.cos(times) * self._gremlins.travel
        targets[..., 2] = self._gremlins.size
        return targets

    def _view(self) -> StepView:
        contacts = None
        if self._needs_contacts:
            env = np.concatenate([np.full(len(g1), j) for j, (g1, _) in enumerate(self._contacts)]).astype(np.int64)
            geom1 = np.concatenate([g1 for g1, _ in self._contacts]).astype(np.int64)
            geom2 = np.concatenate([g2 for _, g2 in self._contacts]).astype(np.int64)
            contacts = Contacts(env, geom1, geom2, self._tables)
        bodies = {name: self._positions[:, group] for name, group in self._groups.items()}
        return StepView(self._tasks, self._positions[:, 0], self._mats.reshape(-1, 3, 3), bodies, contacts,
                        self._velocities if self._rules.needs_velocity else None)

    def _observations(self) -> np.ndarray:
        """``BaseTask.obs`` (and ``ButtonLevel0.obs``) flattened, with its ``contains`` assertion."""
        k = len(self.envs)
        view = self._view()
        obs = np.empty((k, self._low.size))
        blanked = self._rules.blanked_lidars(self._tasks)
        lidar = self._tasks[0].lidar_conf
        points = np.concatenate([view.bodies.get(o.name, np.zeros((k, 1, 3))) for o in self._lidar_obstacles], axis=1)
        readings = pseudo_lidar(ego_xy(points, view.agent_pos, view.agent_mat), self._lidar_groups,
                                len(self._lidar_obstacles), lidar.num_bins, lidar.max_dist)
        lidars = {f"{o.name}_lidar": readings[:, g] for g, o in enumerate(self._lidar_obstacles)}
        sensor_column = 0
        for key, kind, column, width in self._layout:
            if kind == "lidar":
                values = lidars[key]
                if key in blanked:
                    values = np.where(blanked[key][:, None], 0.0, values)
            elif kind == "ballquat":
                values = quat2mat(self._sensors[:, sensor_column:sensor_column + 4])
                sensor_column += 4
            else:
                values = self._sensors[:, sensor_column:sensor_column + width]
                sensor_column += width
            obs[:, column:column + width] = values
        inside = np.all((obs >= self._low) & (obs <= self._high), axis=1)
        assert inside.all(), f"Bad obs {obs[~inside]} {self._tasks[0].obs_info.obs_space_dict}"
        return obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step env ``j`` with ``actions[j]``: float32 observations, rewards and costs, terminated,
        truncated, as :meth:`StockSlice.step` (the cast of :meth:`step_exact`)."""
        obs, reward, cost, terminated, truncated = self.step_exact(actions)
        return obs.astype(np.float32), reward.astype(np.float32), cost.astype(np.float32), terminated, truncated

    def step_exact(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step env ``j`` with ``actions[j]``: what each env's own ``step`` returns, in float64
        (observations ``[k, obs]``, rewards, costs ``[k]``), terminated and truncated ``[k]``."""
        from gymnasium.error import ResetNeeded
        from safety_gymnasium.utils.common_utils import ResamplingError

        k = len(self.envs)
        for order, builder in zip(self._orders, self._builders):
            if not order._has_reset:  # noqa: SLF001
                raise ResetNeeded("Cannot call env.step() before calling env.reset()")
            assert not builder.done, "Environment must be reset before stepping."
        actions = actions.astype(np.float64)
        if actions.shape[1:] != self._builders[0].action_space.shape:
            raise ValueError("Action dimension mismatch")
        ctrl = np.clip(actions, self._ctrl_low, self._ctrl_high)
        targets = self._mocap_targets()
        self._physics.run(self._advance, ctrl, targets)

        view = self._view()
        reward, achieved = self._rules.reward(view)
        clip = self._tasks[0].reward_conf.reward_clip
        if clip:
            outside = ~((-clip < reward) & (reward < clip))
            for _ in range(int(outside.sum())):
                print("Warning: reward was outside of range!")
            reward = np.where(outside, np.clip(reward, -clip, clip), reward)
        cost = constraint_violations(view).astype(np.float64)
        self._rules.specific_step(view)
        for j in np.flatnonzero(achieved):  # Builder.step's goal processing, by the stock code
            task = self._tasks[j]
            task.update_layout()
            try:
                task.update_world()
            except ResamplingError:
                self._builders[j].terminated = True
            self._gather(j)
        obs = self._observations()

        terminated = np.empty(k, dtype=bool)
        truncated = np.empty(k, dtype=bool)
        for j, (limit, checker, builder) in enumerate(zip(self._limits, self._checkers, self._builders)):
            checker.checked_step = True
            builder.steps += 1
            if builder.steps >= builder.task.num_steps:
                builder.truncated = True
            limit._elapsed_steps += 1  # noqa: SLF001
            terminated[j] = builder.terminated
            truncated[j] = builder.truncated or limit._elapsed_steps >= limit._max_episode_steps  # noqa: SLF001
        return obs, reward, cost, terminated, truncated

    def close(self) -> None:
        self._physics.close()
        super().close()
