"""One bare simulator of a task: what every batched backend steps and resets."""

from __future__ import annotations

from shapo_rl.envs.custom import CustomEnv
from shapo_rl.envs.discovery import make_registered
from shapo_rl.envs.tasks import CUSTOM, TaskSpec


def make_simulator(spec: TaskSpec, max_episode_steps: int, render_mode: str | None):
    """One bare env of ``spec`` with its time limit (a user env through :class:`CustomEnv`)."""
    if spec.family == CUSTOM:
        return CustomEnv(spec.name, max_episode_steps)
    render = {} if render_mode is None else {"render_mode": render_mode}
    return make_registered(spec.name, max_episode_steps=max_episode_steps, **render)


def is_heavy(env) -> bool:
    """Whether ``env`` is a safety-gymnasium builder task: it recompiles its MuJoCo model at every
    reset (about 0.02 s without the skybox) and computes its lidar in Python (about 1.4 ms a step)."""
    if "safety_gymnasium" not in type(env.unwrapped).__module__:
        return False
    from safety_gymnasium.builder import Builder

    return isinstance(env.unwrapped, Builder)
