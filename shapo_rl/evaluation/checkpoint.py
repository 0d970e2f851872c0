"""Read a run's checkpoint back into a module, refusing corrupt or foreign files clearly."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.algorithms.module import CHECKPOINT_FORMAT
from shapo_rl.config import ConfigError, TrainConfig


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or not written by this library."""


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


def load_module(path: Path) -> SafePolicyOptimization:
    """Rebuild the module from the checkpoint's own config and load its weights and statistics."""
    from shapo_rl.training import build_module  # late: training imports evaluation's neighbours

    checkpoint = read_checkpoint(Path(path))
    meta = checkpoint["shapo_rl"]
    try:
        config = TrainConfig.from_dict(meta["config"])
        module = build_module(config)
        module.load_state_dict(checkpoint["state_dict"])
    except (ConfigError, KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{path} does not match this version of shapo-rl: {err}") from None
    module.eval()
    return module
