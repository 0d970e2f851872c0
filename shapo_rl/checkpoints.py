"""Building a run's module from its configuration, and reading one back from a checkpoint.

Below both training (which builds and resumes modules) and evaluation (which loads them): a
checkpoint that is missing, unreadable, of another format or of another configuration is a
:class:`CheckpointError` with one line saying which.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from shapo_rl.algorithms import SafePolicyOptimization, config_from_dict
from shapo_rl.algorithms.module import CHECKPOINT_FORMAT
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs import ObservationNormalizer, make_env


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not written by this library."""


def env_dimensions(task: str) -> tuple[int, int]:
    """(observation dim, action dim) of a task, read from a one-env probe."""
    probe = make_env(task, num_envs=1, normalize_obs=False)
    try:
        return probe.observation_spec["observation"].shape[-1], probe.action_spec.shape[-1]
    finally:
        probe.close()


def build_module(config: TrainConfig) -> SafePolicyOptimization:
    """A fresh module for a resolved ``config`` (its cost limit and algorithm config filled in)."""
    obs_dim, act_dim = env_dimensions(config.env)
    normalizer = (ObservationNormalizer(obs_dim, clip=config.obs_clip, std_floor=config.obs_std_floor)
                  if config.normalize_obs else None)
    return SafePolicyOptimization(config, obs_dim=obs_dim, act_dim=act_dim, cost_limit=config.cost_limit,
                                  obs_normalizer=normalizer)


def find_checkpoint(run_dir: Path) -> Path:
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint in {run_dir} (expected {path})")
    return path


def read_checkpoint(path: Path) -> dict:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("shapo_rl", {}).get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} was not written by shapo-rl (format {CHECKPOINT_FORMAT})")
    return checkpoint


def checkpoint_config(checkpoint: dict, path: Path) -> TrainConfig:
    """The run configuration a checkpoint was written with."""
    try:
        return config_from_dict(checkpoint["shapo_rl"]["config"])
    except (ConfigError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path} does not match this version of shapo-rl: {err}") from None


def load_module(path: Path) -> SafePolicyOptimization:
    """Rebuild the module from the checkpoint's own config and load its weights and statistics."""
    checkpoint = read_checkpoint(Path(path))
    config = checkpoint_config(checkpoint, Path(path))
    try:
        module = build_module(config)
        module.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{path} does not match this version of shapo-rl: {err}") from None
    module.eval()
    return module
