"""``make_env``: a task id in, a batched TorchRL env with the project's data contract out."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import traceback
from collections.abc import Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl._utils import seed_generator
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs import (
    Compose,
    DoubleToFloat,
    EnvBase,
    RenameTransform,
    Transform,
    TransformedEnv,
)

from shapo_rl import keys
from shapo_rl.envs.action_clip import ClipAction
from shapo_rl.envs.counters import EpisodeCounters
from shapo_rl.envs.custom import CustomEnv
from shapo_rl.envs.discovery import make_registered
from shapo_rl.envs.fall_cost import FallCost
from shapo_rl.envs.normalizer import ObservationNormalizer
from shapo_rl.envs.registry import get_task
from shapo_rl.envs.tasks import CUSTOM, MUJOCO_FALLS, TOY, TaskSpec, UnknownTaskError
from shapo_rl.envs.skybox import without_skybox
from shapo_rl.envs.toy import ToyCMDP


def _make_simulator(spec: TaskSpec, max_episode_steps: int, render_mode: str | None):
    """One bare env of ``spec`` with its time limit (a user env through :class:`CustomEnv`)."""
    if spec.family == CUSTOM:
        return CustomEnv(spec.name, max_episode_steps)
    render = {} if render_mode is None else {"render_mode": render_mode}
    return make_registered(spec.name, max_episode_steps=max_episode_steps, **render)


def make_rendering_simulator(task: str):
    """One bare env of ``task`` whose ``render()`` returns RGB frames, with the real sky: what a
    video's env (``make_env`` with a ``render_mode``) steps, built alone to refuse a task without a
    renderer before any episode. The toy CMDP and user envs have no renderer here.
    """
    spec = get_task(task)
    if spec.family in (TOY, CUSTOM):
        raise UnknownTaskError(f"{task} has no renderer: videos need a MuJoCo task")
    return _make_simulator(spec, spec.max_episode_steps, render_mode="rgb_array")


def _is_heavy(env) -> bool:
    """Whether ``env`` is a safety-gymnasium builder task: it recompiles its MuJoCo model at every
    reset (about 0.02 s without the skybox) and computes its lidar in Python (about 1.4 ms a step)."""
    if "safety_gymnasium" not in type(env.unwrapped).__module__:
        return False
    from safety_gymnasium.builder import Builder

    return isinstance(env.unwrapped, Builder)


class _SimulatorSlice:
    """A few bare envs stepped one after the other, with numpy batches in and out.

    Observations and rewards are cast to float32 and actions to float64 (what the simulators
    compute in), exactly as ``DoubleToFloat`` did on the TorchRL side. ``cost`` is the step's
    own cost (a 6-tuple's, else ``info["cost"]``) and 0 for a task without one (falls become
    cost later). Without a ``render_mode`` (training, evaluation, attacks) resets compile
    safety-gymnasium worlds :func:`without_skybox`. ``envs`` may bring envs already built (the
    first one, built to inspect the task).
    """

    def __init__(self, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None = None,
                 envs: list | None = None):
        self.render_mode = render_mode
        self.envs = list(envs or [])
        self.envs += [_make_simulator(spec, max_episode_steps, render_mode) for _ in range(count - len(self.envs))]

    def spaces(self):
        return self.envs[0].observation_space, self.envs[0].action_space

    def reset(self, requests: list[tuple[int, int | None]]) -> np.ndarray:
        """Reset env ``j`` (with ``seed`` unless None) for each ``(j, seed)``; their observations."""
        sky = contextlib.nullcontext() if self.render_mode is not None else without_skybox()
        with sky:
            return np.stack([np.asarray(self.envs[j].reset(seed=seed)[0], dtype=np.float32) for j, seed in requests])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        count = len(self.envs)
        obs = [None] * count
        reward = np.empty(count, dtype=np.float32)
        cost = np.zeros(count, dtype=np.float32)
        terminated = np.empty(count, dtype=bool)
        truncated = np.empty(count, dtype=bool)
        for j, (env, action) in enumerate(zip(self.envs, actions.astype(np.float64))):
            out = env.step(action)
            if len(out) == 6:
                obs[j], reward[j], cost[j], terminated[j], truncated[j], _ = out
            else:
                obs[j], reward[j], terminated[j], truncated[j], info = out
                cost[j] = info.get("cost", 0.0)
        return np.stack(obs).astype(np.float32), reward, cost, terminated, truncated

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _simulator_worker(conn, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None) -> None:
    """Serve ``("step", actions)``, ``("reset", requests)`` and ``("close", None)`` over ``conn``."""
    envs = None
    try:
        envs = _SimulatorSlice(spec, max_episode_steps, count, render_mode)
        conn.send(("ok", None))
        while True:
            command, argument = conn.recv()
            if command == "close":
                break
            conn.send(("ok", getattr(envs, command)(argument)))
    except (KeyboardInterrupt, EOFError):
        pass
    except Exception:  # noqa: BLE001 - handed to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        if envs is not None:
            envs.close()
        conn.close()


class _RemoteSlice:
    """A :class:`_SimulatorSlice` in a worker process; ``send`` then ``receive`` each call."""

    def __init__(self, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None):
        # fork: no re-import of the caller's main module (no ``__main__`` guard needed) and no
        # second start-up of torch; the worker runs only numpy and the simulator.
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_simulator_worker, args=(child, spec, max_episode_steps, count, render_mode),
                                       daemon=True)
        self.process.start()
        child.close()
        self.receive()

    def send(self, command: str, argument) -> None:
        self.conn.send((command, argument))

    def receive(self):
        try:
            status, value = self.conn.recv()
        except EOFError:
            raise RuntimeError("a simulator worker process died") from None
        if status == "error":
            raise RuntimeError(f"a simulator worker failed:\n{value}")
        return value

    def close(self) -> None:
        try:
            self.conn.send(("close", None))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


def default_workers(num_envs: int, processes: int = 1) -> int:
    """Worker processes a batch of ``num_envs`` heavy simulators may use when ``processes``
    training processes share this machine: one per core beyond each process's own, at most one
    per env."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(cores // max(processes, 1), num_envs) - 1)


class SimulatorBatch(EnvBase):
    """``num_envs`` gym(nasium) envs as one TorchRL env of batch size ``[num_envs]``.

    The envs are split evenly between this process and ``workers`` worker processes: each step
    sends the workers their actions, steps this process's share meanwhile, then gathers. Data
    cross the TorchRL boundary once per batch, not once per env as with ``SerialEnv`` of
    single-env wrappers (whose per-env TensorDict overhead exceeds a MuJoCo step). By default
    (``workers=None``) only heavy simulators get workers, :func:`default_workers` of them for
    ``processes`` training processes on this machine: measured on 2 cores, with the stock
    reset (seconds of world compile) a worker made SafetyPointGoal1-v0 collection 1.5x faster;
    with the skybox-free reset, collection with one worker and in-process measured alike
    (693-849 vs 743-787 steps/s, other users' load 5-6), so the worker stays. For a MuJoCo
    locomotion task (~0.2 ms a step) the round trip to a worker costs more than the steps it
    moves and halves the speed of both processes' simulators, so collection is 1.2-1.6x slower.
    Env ``i`` is
    seeded at its first reset after ``set_seed(seed)`` with the ``i``-th seed of TorchRL's seed
    chain (what ``SerialEnv`` would give it); later resets continue its own generator.
    """

    def __init__(self, spec: TaskSpec, num_envs: int, max_episode_steps: int, *, workers: int | None = None,
                 processes: int = 1, render_mode: str | None = None, device: str = "cpu"):
        super().__init__(batch_size=torch.Size([num_envs]), device=device)
        first = _make_simulator(spec, max_episode_steps, render_mode)
        if workers is None:
            workers = default_workers(num_envs, processes) if _is_heavy(first) else 0
        workers = max(0, min(workers, num_envs - 1))
        chunks = np.array_split(np.arange(num_envs), workers + 1)
        self._local = _SimulatorSlice(spec, max_episode_steps, len(chunks[0]), render_mode, envs=[first])
        self._remote: list[_RemoteSlice] = []
        try:
            for chunk in chunks[1:]:
                self._remote.append(_RemoteSlice(spec, max_episode_steps, len(chunk), render_mode))
        except BaseException:
            for remote in self._remote:
                remote.close()
            self._local.close()
            raise
        self._slices = [self._local, *self._remote]
        self._bounds = np.cumsum([0] + [len(c) for c in chunks])
        obs_space, act_space = self._local.spaces()
        shape = (num_envs, 1)
        self.observation_spec = Composite({keys.OBSERVATION: Unbounded((num_envs, *obs_space.shape), dtype=torch.float32),
                                           keys.COST: Unbounded(shape, dtype=torch.float32)}, shape=(num_envs,))
        low = torch.as_tensor(act_space.low, dtype=torch.float32).expand(num_envs, *act_space.shape)
        high = torch.as_tensor(act_space.high, dtype=torch.float32).expand(num_envs, *act_space.shape)
        self.action_spec = Bounded(low.clone(), high.clone(), (num_envs, *act_space.shape), dtype=torch.float32)
        self.reward_spec = Unbounded(shape, dtype=torch.float32)
        self.full_done_spec = Composite(
            {key: Bounded(0, 1, shape, dtype=torch.bool) for key in (keys.DONE, keys.TERMINATED, keys.TRUNCATED)},
            shape=(num_envs,),
        )
        self._obs = np.zeros((num_envs, *obs_space.shape), dtype=np.float32)
        self._seeds: list[int | None] = [None] * num_envs
        self.is_closed = False  # EnvBase starts closed; collectors close only open envs

    def _set_seed(self, seed: int | None) -> None:
        # The seeds TorchRL's SerialEnv gives its envs: seed, then each next one of the chain.
        self._seeds = []
        for _ in range(self.batch_size[0]):
            self._seeds.append(seed)
            seed = None if seed is None else seed_generator(seed)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:  # type: ignore[no-untyped-def]
        mask = None if tensordict is None else tensordict.get("_reset", None)
        rows = np.arange(self.batch_size[0]) if mask is None else np.flatnonzero(mask.reshape(-1).cpu().numpy())
        groups = []
        for k, env_slice in enumerate(self._slices):
            lo, hi = self._bounds[k], self._bounds[k + 1]
            mine = rows[(rows >= lo) & (rows < hi)]
            requests = [(int(i - lo), self._seeds[i]) for i in mine]
            for i in mine:
                self._seeds[i] = None
            groups.append((env_slice, mine, requests))
        for env_slice, _, requests in groups[1:]:
            if requests:
                env_slice.send("reset", requests)
        for k, (env_slice, mine, requests) in enumerate(groups):
            if requests:
                self._obs[mine] = env_slice.reset(requests) if k == 0 else env_slice.receive()
        zeros = torch.zeros((*self.batch_size, 1))
        false = torch.zeros((*self.batch_size, 1), dtype=torch.bool)
        out = {keys.OBSERVATION: torch.from_numpy(self._obs.copy()), keys.DONE: false,
               keys.TERMINATED: false.clone(), keys.TRUNCATED: false.clone(), keys.COST: zeros}
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        actions = tensordict.get(keys.ACTION).cpu().numpy()
        bounds = self._bounds
        for k, remote in enumerate(self._remote, start=1):
            remote.send("step", actions[bounds[k]:bounds[k + 1]])
        parts = [self._local.step(actions[bounds[0]:bounds[1]]), *(remote.receive() for remote in self._remote)]
        obs, reward, cost, terminated, truncated = (np.concatenate(column) for column in zip(*parts))
        self._obs = obs.copy()  # reset rows are overwritten in place; the step's output is not
        terminated = torch.from_numpy(terminated).unsqueeze(-1)
        truncated = torch.from_numpy(truncated).unsqueeze(-1)
        out = {keys.OBSERVATION: torch.from_numpy(obs), keys.REWARD: torch.from_numpy(reward).unsqueeze(-1),
               keys.DONE: terminated | truncated, keys.TERMINATED: terminated, keys.TRUNCATED: truncated,
               keys.COST: torch.from_numpy(cost).unsqueeze(-1)}
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def render(self):
        """Env 0's frame (a batch built with a ``render_mode``; env 0 steps in this process)."""
        return self._local.envs[0].render()

    @property
    def render_fps(self) -> int:
        return self._local.envs[0].metadata.get("render_fps", 30)

    def close(self, *, raise_if_closed: bool = True) -> None:
        if self.is_closed:
            if raise_if_closed:
                raise RuntimeError("trying to close a closed environment")
            return
        for remote in self._remote:
            remote.close()
        self._remote = []
        self._local.close()
        super().close(raise_if_closed=raise_if_closed)


def _base_env(spec: TaskSpec, num_envs: int, max_episode_steps: int, device: str,
              workers: int | None = None, processes: int = 1, render_mode: str | None = None) -> EnvBase:
    """The simulator batch: ToyCMDP natively, every gym task as a :class:`SimulatorBatch`."""
    if spec.family == TOY:
        return ToyCMDP(num_envs, horizon=max_episode_steps, device=device)
    return SimulatorBatch(spec, num_envs, max_episode_steps, workers=workers, processes=processes,
                          render_mode=render_mode, device=device)


def _cost_transforms(family: str) -> list[Transform]:
    """Bring every family's cost to float32 ``("next", "cost")`` of shape ``[num_envs, 1]``.

    :class:`SimulatorBatch` already writes the step's own cost that way (0 for a task without
    one); the MuJoCo locomotion tasks have none, so falls become the cost.
    """
    if family == MUJOCO_FALLS:
        return [FallCost()]
    return []


def make_env(
    task: str,
    *,
    num_envs: int = 1,
    seed: int = 0,
    normalize_obs: bool = True,
    obs_normalizer: ObservationNormalizer | None = None,
    device: str | torch.device = "cpu",
    max_episode_steps: int | None = None,
    workers: int | None = None,
    processes: int = 1,
    render_mode: str | None = None,
    transforms: Sequence[Transform] = (),
    keep_raw_obs: bool = False,
) -> TransformedEnv:
    """Build ``task`` as a TorchRL env of batch size ``[num_envs]``.

    The stack casts observation and action to float32, clips the action to its bounds before
    the simulator (the rollout keeps the sampled action), writes float32 cost ``[num_envs, 1]``,
    normalises observations with ``obs_normalizer`` (a new one unless given) when
    ``normalize_obs``, and counts episode return, cost and length. Env ``i`` of the batch gets
    its own seed derived from ``seed``; ``max_episode_steps`` overrides the task's time limit.
    ``workers`` is the number of simulator worker processes of a gym task's batch (0 steps all
    in this process; by default :class:`SimulatorBatch` decides, for ``processes`` training
    processes sharing this machine). ``task`` is any id :func:`get_task` resolves. Without a
    ``render_mode`` safety-gymnasium worlds compile without their skybox image (identical
    dynamics, see ``shapo_rl.envs.skybox``); with one (video) they keep the real sky.
    ``transforms`` (an algorithm's, e.g. Saute's safety state) come last: after the normaliser,
    which sees the simulator's observation only, and after the counters, which count the task's
    own reward and cost. ``keep_raw_obs`` keeps a copy of the observation before normalisation
    under ``keys.RAW_OBSERVATION``.
    """
    spec = get_task(task)
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    base = _base_env(spec, num_envs, steps, str(device), workers, processes, render_mode)
    stack = _cost_transforms(spec.family)
    doubles = [k for k, s in base.observation_spec.items(True, True) if s.dtype == torch.float64]
    doubles = [k for k in doubles if k != keys.COST]
    inv = [keys.ACTION] if base.action_spec.dtype == torch.float64 else []
    if doubles or inv:
        stack.append(DoubleToFloat(in_keys=doubles, in_keys_inv=inv))
    stack.append(ClipAction())
    if normalize_obs and keep_raw_obs:
        stack.append(RenameTransform([keys.OBSERVATION], [keys.RAW_OBSERVATION], create_copy=True))
    if normalize_obs:
        stack.append(obs_normalizer if obs_normalizer is not None else ObservationNormalizer())
    stack.append(EpisodeCounters())
    stack.extend(transforms)
    env = TransformedEnv(base, Compose(*stack))
    env.set_seed(seed)
    return env
