"""Checkpoint files: atomic writes (a kill during a save never leaves a broken file behind), safe
reads (opening a checkpoint never runs code from it), and the format check of a shapo-rl
checkpoint. Below the algorithms, so that one of them can read another run's weights (strpo's
unsafe policy); :mod:`shapo_rl.checkpoints` re-exports the readers.

A checkpoint is a pickle, and unpickling can call any importable function. Every read here goes
through ``torch.load(..., weights_only=True)``, whose unpickler accepts tensors, plain Python
containers and numbers only: that covers all a run writes (the module's state dict, optimiser
states, Lightning's loop and ModelCheckpoint states, and the run's config as a plain dict), so no
further global is allow-listed. A file that names any other global is refused in one line.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


CHECKPOINT_FORMAT = "shapo-rl/3"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, unsafe to open, or not written by this library."""


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary sibling, fsync it, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def safe_load(path: Path) -> Any:
    """Unpickle ``path`` with torch's weights-only unpickler, on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:  # not a pickle at all
            raise CheckpointError(f"{path} is not a readable checkpoint (UnpicklingError)") from None
        raise CheckpointError(f"{path} was refused: loading it would run {found.group(1)}, and a checkpoint may "
                              "hold tensors and plain Python values only") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__})") from None


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


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's contents, read without running code from it."""
    checkpoint = safe_load(Path(path))
    meta = checkpoint.get("shapo_rl") if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} was not written by shapo-rl (format {CHECKPOINT_FORMAT})")
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, written to a temporary file and renamed into place, and
    read back (``Trainer.fit(ckpt_path=...)``) with :func:`safe_load` whatever Lightning asks."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_write(Path(path), lambda f: torch.save(checkpoint, f))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return safe_load(Path(path))
