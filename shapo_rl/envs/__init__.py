"""Environments: the task registry (curated tasks, any safety-gymnasium or gymnasium id, a user's
``module:callable``) and ``make_env``, which builds any task as a batched TorchRL env with
float32 cost, observation normalisation, action clipping and episode counters."""

from shapo_rl.envs.action_clip import ClipAction
from shapo_rl.envs.counters import EpisodeCounters
from shapo_rl.envs.factory import make_env, make_rendering_simulator
from shapo_rl.envs.fall_cost import FallCost
from shapo_rl.envs.normalizer import ObservationNormalizer, find_observation_normalizer
from shapo_rl.envs.registry import get_task
from shapo_rl.envs.tasks import TASKS, EnvContractError, TaskSpec, UnknownTaskError, UnsupportedTaskError
from shapo_rl.envs.toy import ToyCMDP, toy_cmdp_optimum

__all__ = [
    "TASKS",
    "ClipAction",
    "EnvContractError",
    "EpisodeCounters",
    "FallCost",
    "ObservationNormalizer",
    "TaskSpec",
    "ToyCMDP",
    "UnknownTaskError",
    "UnsupportedTaskError",
    "find_observation_normalizer",
    "get_task",
    "make_env",
    "make_rendering_simulator",
    "toy_cmdp_optimum",
]
