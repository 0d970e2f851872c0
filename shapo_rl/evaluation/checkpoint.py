"""Read a run's checkpoint back into a module, refusing corrupt, unsafe or foreign files clearly."""

from __future__ import annotations

from pathlib import Path

from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.algorithms.module import CHECKPOINT_FORMAT
from shapo_rl.checkpoint_io import CheckpointError, safe_load
from shapo_rl.config import ConfigError, TrainConfig

__all__ = ["CheckpointError", "checkpoint_path", "load_module", "read_checkpoint", "run_directory"]


def checkpoint_path(run_or_checkpoint: Path) -> Path:
    """The checkpoint a user named: a file as given, a run directory's ``checkpoints/last.ckpt``."""
    path = Path(run_or_checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise CheckpointError(f"no checkpoint in {run_or_checkpoint} (expected {path})")
    elif not path.is_file():
        raise CheckpointError(f"{run_or_checkpoint} is neither a run directory nor a checkpoint file")
    return path


def run_directory(checkpoint: Path) -> Path:
    """The run directory a checkpoint belongs to (``RUN/checkpoints/x.ckpt`` -> ``RUN``), else its folder."""
    checkpoint = Path(checkpoint)
    folder = checkpoint.parent
    return folder.parent if folder.name == "checkpoints" else folder


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, read without running code (see :func:`shapo_rl.checkpoint_io.safe_load`)."""
    checkpoint = safe_load(Path(path))
    meta = checkpoint.get("shapo_rl") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
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
