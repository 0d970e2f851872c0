"""``make_env``: a task id in, a batched TorchRL env with the project's data contract out."""

from __future__ import annotations

import warnings
from functools import partial

import torch
from torchrl.envs import (
    Compose,
    DoubleToFloat,
    EnvBase,
    SerialEnv,
    Transform,
    TransformedEnv,
    UnsqueezeTransform,
)
from torchrl.envs.libs.gym import GymEnv

from shapo_rl import keys
from shapo_rl.envs.action_clip import ClipAction
from shapo_rl.envs.counters import EpisodeCounters
from shapo_rl.envs.fall_cost import FallCost
from shapo_rl.envs.normalizer import ObservationNormalizer
from shapo_rl.envs.registry import MUJOCO_FALLS, SAFETY_GYMNASIUM, TOY, TaskSpec, get_task
from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium
from shapo_rl.envs.toy import ToyCMDP


def _fast(env: GymEnv) -> GymEnv:
    """Memoise the spec encoding of a gym env (fewer checks per step)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="memoized encoding is an experimental")
        env.fast_encoding()
    return env


def _gym(name: str, max_episode_steps: int) -> EnvBase:
    return _fast(GymEnv(name, max_episode_steps=max_episode_steps))


def _safety_gymnasium(name: str, max_episode_steps: int) -> EnvBase:
    import_safety_gymnasium()
    from torchrl.envs.libs.safety_gymnasium import SafetyGymnasiumEnv

    return _fast(SafetyGymnasiumEnv(name, max_episode_steps=max_episode_steps))


def _base_env(spec: TaskSpec, num_envs: int, max_episode_steps: int, device: str) -> EnvBase:
    """The simulator batch: a native batched env, or ``SerialEnv`` over single gym envs.

    ``SerialEnv`` beats ``ParallelEnv`` on a couple of cores (no inter-process copies), and the
    cost fix below is applied once to the stacked batch rather than in every worker.
    """
    if spec.family == TOY:
        return ToyCMDP(num_envs, horizon=max_episode_steps, device=device)
    build = _safety_gymnasium if spec.family == SAFETY_GYMNASIUM else _gym
    return SerialEnv(num_envs, partial(build, spec.name, max_episode_steps), device=device)


def _cost_transforms(family: str) -> list[Transform]:
    """Bring every family's cost to float32 ``("next", "cost")`` of shape ``[num_envs, 1]``.

    safety-gymnasium's TorchRL wrapper emits a float64 scalar per env, which ``SerialEnv``
    stacks to ``[num_envs]``; the MuJoCo tasks have no cost, so falls become the cost.
    """
    if family == SAFETY_GYMNASIUM:
        return [UnsqueezeTransform(-1, in_keys=[keys.COST]), DoubleToFloat(in_keys=[keys.COST])]
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
) -> TransformedEnv:
    """Build ``task`` as a TorchRL env of batch size ``[num_envs]``.

    The stack casts observation and action to float32, clips the action to its bounds before
    the simulator (the rollout keeps the sampled action), writes float32 cost ``[num_envs, 1]``,
    normalises observations with ``obs_normalizer`` (a new one unless given) when
    ``normalize_obs``, and counts episode return, cost and length. Env ``i`` of the batch gets
    its own seed derived from ``seed``; ``max_episode_steps`` overrides the task's time limit.
    """
    spec = get_task(task)
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    base = _base_env(spec, num_envs, steps, str(device))
    transforms = _cost_transforms(spec.family)
    doubles = [k for k, s in base.observation_spec.items(True, True) if s.dtype == torch.float64]
    doubles = [k for k in doubles if k != keys.COST]
    inv = [keys.ACTION] if base.action_spec.dtype == torch.float64 else []
    if doubles or inv:
        transforms.append(DoubleToFloat(in_keys=doubles, in_keys_inv=inv))
    transforms.append(ClipAction())
    if normalize_obs:
        transforms.append(obs_normalizer if obs_normalizer is not None else ObservationNormalizer())
    transforms.append(EpisodeCounters())
    env = TransformedEnv(base, Compose(*transforms))
    env.set_seed(seed)
    return env
