"""The stock backend: each env's own ``step`` and ``reset``, one env after the other."""

from __future__ import annotations

import contextlib

import numpy as np

from shapo_rl.envs.simulator import make_simulator
from shapo_rl.envs.skybox import without_skybox
from shapo_rl.envs.tasks import TaskSpec


class StockSlice:
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
        self.envs += [make_simulator(spec, max_episode_steps, render_mode) for _ in range(count - len(self.envs))]

    def spaces(self):
        return self.envs[0].observation_space, self.envs[0].action_space

    def reset(self, requests: list[tuple[int, int | None]]) -> np.ndarray:
        """Reset env ``j`` (with ``seed`` unless None) for each ``(j, seed)``; their observations."""
        sky = contextlib.nullcontext() if self.render_mode is not None else without_skybox()
        with sky:
            return np.stack([np.asarray(self.envs[j].reset(seed=seed)[0], dtype=np.float32) for j, seed in requests])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step env ``j`` with ``actions[j]``: observations, rewards, costs, terminated, truncated."""
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

    def render(self):
        return self.envs[0].render()

    @property
    def render_fps(self) -> int:
        return self.envs[0].metadata.get("render_fps", 30)

    def close(self) -> None:
        for env in self.envs:
            env.close()
