"""``make_env``: a task id in, a batched TorchRL env with the project's data contract out."""

from __future__ import annotations

from collections.abc import Sequence

import torch
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
from shapo_rl.envs.batch import SimulatorBatch
from shapo_rl.envs.counters import EpisodeCounters
from shapo_rl.envs.fall_cost import FallCost
from shapo_rl.envs.normalizer import ObservationNormalizer
from shapo_rl.envs.registry import get_task
from shapo_rl.envs.simulator import make_simulator
from shapo_rl.envs.tasks import CUSTOM, MUJOCO_FALLS, TOY, TaskSpec, UnknownTaskError
from shapo_rl.envs.toy import ToyCMDP


def make_rendering_simulator(task: str):
    """One bare env of ``task`` whose ``render()`` returns RGB frames, with the real sky: what a
    video's env (``make_env`` with a ``render_mode``) steps, built alone to refuse a task without a
    renderer before any episode. The toy CMDP and user envs have no renderer here.
    """
    spec = get_task(task)
    if spec.family in (TOY, CUSTOM):
        raise UnknownTaskError(f"{task} has no renderer: videos need a MuJoCo task")
    return make_simulator(spec, spec.max_episode_steps, render_mode="rgb_array")


def _base_env(spec: TaskSpec, num_envs: int, max_episode_steps: int, device: str,
              workers: int | None = None, processes: int = 1, render_mode: str | None = None,
              backend: str = "fast", threads: int | None = None) -> EnvBase:
    """The simulator batch: ToyCMDP natively, every gym task as a :class:`SimulatorBatch`."""
    if spec.family == TOY:
        return ToyCMDP(num_envs, horizon=max_episode_steps, device=device)
    return SimulatorBatch(spec, num_envs, max_episode_steps, workers=workers, processes=processes,
                          render_mode=render_mode, device=device, backend=backend, threads=threads)


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
    backend: str = "fast",
    threads: int | None = None,
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
    under ``keys.RAW_OBSERVATION``. ``backend`` is who steps the simulators around their physics:
    ``"fast"`` (batched per task family) or ``"stock"`` (each env's own code), see
    :mod:`shapo_rl.envs.batched`; ``threads`` how many threads step a fast slice's physics.
    """
    spec = get_task(task)
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    base = _base_env(spec, num_envs, steps, str(device), workers, processes, render_mode, backend, threads)
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
