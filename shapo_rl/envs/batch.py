"""``SimulatorBatch``: a batch of gym(nasium) envs as one TorchRL env, spread over slices."""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl._utils import seed_generator
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs import EnvBase

from shapo_rl import keys
from shapo_rl.envs.batched import StockSlice, make_slice, slice_class
from shapo_rl.envs.simulator import is_heavy, make_simulator
from shapo_rl.envs.tasks import TaskSpec
from shapo_rl.envs.workers import RemoteSlice, default_workers, physics_threads


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
    ``backend`` picks the slices (:mod:`shapo_rl.envs.batched`). A fast slice needs no worker: it
    steps its envs' physics in :func:`physics_threads` threads and does the rest once per batch,
    so by default it runs in this process alone (``threads`` overrides the count). Env ``i`` is
    seeded at its first reset after ``set_seed(seed)`` with the ``i``-th seed of TorchRL's seed
    chain (what ``SerialEnv`` would give it); later resets continue its own generator.
    """

    def __init__(self, spec: TaskSpec, num_envs: int, max_episode_steps: int, *, workers: int | None = None,
                 processes: int = 1, render_mode: str | None = None, device: str = "cpu", backend: str = "fast",
                 threads: int | None = None):
        super().__init__(batch_size=torch.Size([num_envs]), device=device)
        first = make_simulator(spec, max_episode_steps, render_mode)
        fast = slice_class(backend, first, render_mode) is not StockSlice
        if workers is None:  # a fast slice spreads its physics over threads instead
            workers = default_workers(num_envs, processes) if is_heavy(first) and not fast else 0
        if threads is None and fast:
            threads = physics_threads(processes)
        workers = max(0, min(workers, num_envs - 1))
        chunks = np.array_split(np.arange(num_envs), workers + 1)
        self._local = make_slice(backend, spec, max_episode_steps, len(chunks[0]), render_mode, envs=[first],
                                 threads=threads)
        self._remote: list[RemoteSlice] = []
        try:
            for chunk in chunks[1:]:
                self._remote.append(RemoteSlice(backend, spec, max_episode_steps, len(chunk), render_mode, threads))
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
        self.reset_rows(rows)
        zeros = torch.zeros((*self.batch_size, 1))
        false = torch.zeros((*self.batch_size, 1), dtype=torch.bool)
        out = {keys.OBSERVATION: torch.from_numpy(self._obs.copy()), keys.DONE: false,
               keys.TERMINATED: false.clone(), keys.TRUNCATED: false.clone(), keys.COST: zeros}
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def reset_rows(self, rows: np.ndarray) -> np.ndarray:
        """Reset the envs ``rows`` (ascending indices), each slice its own share (the workers'
        meanwhile), and return their first observations, ``[len(rows), *obs_shape]`` float32."""
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
        return self._obs[rows]

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        obs, reward, cost, terminated, truncated = self.step_arrays(tensordict.get(keys.ACTION).cpu().numpy())
        terminated = torch.from_numpy(terminated).unsqueeze(-1)
        truncated = torch.from_numpy(truncated).unsqueeze(-1)
        out = {keys.OBSERVATION: torch.from_numpy(obs), keys.REWARD: torch.from_numpy(reward).unsqueeze(-1),
               keys.DONE: terminated | truncated, keys.TERMINATED: terminated, keys.TRUNCATED: truncated,
               keys.COST: torch.from_numpy(cost).unsqueeze(-1)}
        return TensorDict(out, batch_size=self.batch_size, device=self.device)

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """One step of every env (the workers' shares sent first, this process's stepped
        meanwhile): ``(obs, reward, cost, terminated, truncated)``, new arrays with the envs as
        first axis (the ``[num_envs, 1]`` columns of :meth:`_step` without their last axis)."""
        bounds = self._bounds
        for k, remote in enumerate(self._remote, start=1):
            remote.send("step", actions[bounds[k]:bounds[k + 1]])
        parts = [self._local.step(actions[bounds[0]:bounds[1]]), *(remote.receive() for remote in self._remote)]
        obs, reward, cost, terminated, truncated = (np.concatenate(column) for column in zip(*parts))
        self._obs = obs.copy()  # reset rows are overwritten in place; the step's output is not
        return obs, reward, cost, terminated, truncated

    def render(self):
        """Env 0's frame (a batch built with a ``render_mode``; env 0 steps in this process)."""
        return self._local.render()

    @property
    def render_fps(self) -> int:
        return self._local.render_fps

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
