"""Building a run's module from its configuration, and reading one back from a checkpoint.

Below both training (which builds and resumes modules) and evaluation (which loads them): a
checkpoint that is missing, unreadable, unsafe to open (see
:func:`shapo_rl.checkpoint_io.safe_load`), of another format or of another configuration is a
:class:`CheckpointError` with one line saying which.
"""

from __future__ import annotations

from pathlib import Path

from shapo_rl import keys
from shapo_rl.algorithms import SafePolicyOptimization, config_from_dict, make_run_env
from shapo_rl.checkpoint_io import CheckpointError, checkpoint_path, read_checkpoint
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs import ObservationNormalizer

__all__ = ["CheckpointError", "build_module", "checkpoint_config", "checkpoint_path", "env_dimensions",
           "load_module", "read_checkpoint", "run_directory"]


def env_dimensions(config: TrainConfig) -> tuple[int, int, int]:
    """(policy observation dim, action dim, simulator observation dim) of a resolved run's env,
    read from a one-env probe: the policy sees the observation after the algorithm's env
    transforms (Saute's adds one), the normaliser the simulator's."""
    probe = make_run_env(config, num_envs=1)
    try:
        return (probe.observation_spec[keys.OBSERVATION].shape[-1], probe.action_spec.shape[-1],
                probe.base_env.observation_spec[keys.OBSERVATION].shape[-1])
    finally:
        probe.close()


def build_module(config: TrainConfig, *, overlap_critics: bool | None = None) -> SafePolicyOptimization:
    """A fresh module for a resolved ``config`` (its cost limit and algorithm config filled in);
    ``overlap_critics`` as :class:`SafePolicyOptimization` takes it."""
    obs_dim, act_dim, simulator_dim = env_dimensions(config)
    normalizer = (ObservationNormalizer(simulator_dim, clip=config.obs_clip, std_floor=config.obs_std_floor,
                                        prior_count=config.obs_prior_count)
                  if config.normalize_obs else None)
    return SafePolicyOptimization(config, obs_dim=obs_dim, act_dim=act_dim, cost_limit=config.cost_limit,
                                  obs_normalizer=normalizer, overlap_critics=overlap_critics)


def run_directory(checkpoint: Path) -> Path:
    """The run directory a checkpoint belongs to (``RUN/checkpoints/x.ckpt`` -> ``RUN``), else its folder."""
    folder = Path(checkpoint).parent
    return folder.parent if folder.name == "checkpoints" else folder


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
