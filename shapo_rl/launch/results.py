"""A recipe's finished runs as committed evidence: the small files of each run copied to
``results/<recipe>/runs/<run>/``, never its checkpoints; and its unfinished runs, to be continued
on another machine, copied to ``results/<recipe>/unfinished/<run>/`` with their last checkpoint.

Per run: ``config.yaml``, ``metrics.csv`` and, where the recipe's post-processing wrote them,
``evaluation.csv`` and ``attack.csv``. A configuration value or CSV cell that names a path
inside the recipe's ``runs/`` folder (sTRPO's ``algorithm.unsafe_policy``, the attack sweep's
``run`` column) is written relative to that folder, so a copy names no directory of the machine
that trained it. ``shapo-rl report`` reads the copies as it reads run directories.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import yaml

RESULT_FILES = ("metrics.csv", "evaluation.csv", "attack.csv")
UNFINISHED_FILES = ("config.yaml", "metrics.csv", "checkpoints/last.ckpt")  # what `train --resume` reads


def _relative(value, runs: Path):
    """``value`` with every string that is a path under ``runs`` made relative to it."""
    if isinstance(value, dict):
        return {key: _relative(item, runs) for key, item in value.items()}
    if isinstance(value, list):
        return [_relative(item, runs) for item in value]
    if isinstance(value, str) and value.startswith("/"):
        path = Path(value)
        if path.is_relative_to(runs):
            return str(path.relative_to(runs))
    return value


def export_run(run_dir: Path, target: Path) -> list[Path]:
    """Copy the run's small files into ``target`` (a folder named like the run); return them."""
    run_dir, target = Path(run_dir).resolve(), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    written = [target / "config.yaml"]
    written[0].write_text(yaml.safe_dump(_relative(config, run_dir.parent), sort_keys=False))
    for name in RESULT_FILES:
        if (run_dir / name).is_file():
            with (run_dir / name).open(newline="") as source, (target / name).open("w", newline="") as copy:
                csv.writer(copy).writerows([_relative(cell, run_dir.parent) for cell in row]
                                           for row in csv.reader(source))
            written.append(target / name)
    return written


def export_unfinished(run_dir: Path, target: Path) -> bool:
    """Copy what an interrupted run resumes from (config, metrics, last checkpoint; byte for byte,
    since the checkpoint must match its config) into ``target``; False when it has no checkpoint."""
    run_dir, target = Path(run_dir), Path(target)
    if not all((run_dir / name).is_file() for name in UNFINISHED_FILES):
        return False
    for name in UNFINISHED_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / name, target / name)
    return True


def continue_unfinished(source: Path, run_dir: Path) -> bool:
    """Put an exported unfinished run (``source``) in place as ``run_dir`` so that training
    resumes it; only where ``run_dir`` holds no checkpoint of its own (a local run is newer)."""
    source, run_dir = Path(source), Path(run_dir)
    if (run_dir / "checkpoints" / "last.ckpt").is_file() or not all((source / n).is_file() for n in UNFINISHED_FILES):
        return False
    for name in UNFINISHED_FILES:
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, run_dir / name)
    return True
