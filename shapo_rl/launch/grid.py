"""A grid of ``shapo-rl train`` runs on this machine, ``jobs`` at a time, and its summary.

Each run is a separate process (one torch thread, as ``train`` asks) writing its own run
directory; a run whose metrics already reach its configured budget is reused, so a grid that
was interrupted or extended reruns only what is missing.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml


def finished(run: Path) -> bool:
    """Whether ``run`` holds a run whose last metrics row reaches its configured ``steps``."""
    try:
        steps = yaml.safe_load((run / "config.yaml").read_text())["steps"]
        with (run / "metrics.csv").open() as f:
            return int(list(csv.DictReader(f))[-1]["env_steps"]) == steps
    except (OSError, IndexError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return False


def _train(run: Path, args: Sequence[str], force: bool) -> Path:
    if force or not finished(run):
        command = [sys.executable, "-m", "cli.app", "train", *args, "--out", str(run), "--force", "--no-progress"]
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            raise RuntimeError(f"{run.name} failed: {lines[-1] if lines else result.returncode}")
    return run


def run_grid(runs: Mapping[str, Sequence[str]], out: Path, *, jobs: int = 2, force: bool = False) -> dict[str, Path]:
    """Train each ``name -> train arguments`` into ``out/name``; return the run directories."""
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(jobs) as pool:
        paths = pool.map(lambda item: _train(out / item[0], item[1], force), runs.items())
        return dict(zip(runs, paths))


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt n; nan for one value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def last_epoch_summary(groups: Mapping[str, Sequence[Path]], metrics: Sequence[str]) -> list[dict]:
    """Per group (a label -> its seeds' runs): seeds, and mean and standard error of each metric
    of the runs' last metrics rows."""
    rows = []
    for label, runs in groups.items():
        finals = []
        for run in runs:
            with (run / "metrics.csv").open() as f:
                finals.append(list(csv.DictReader(f))[-1])
        row: dict = {"group": label, "seeds": len(finals)}
        for metric in metrics:
            row[metric], row[f"{metric}_se"] = mean_se([float(f[metric]) for f in finals])
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict], metrics: Sequence[str]) -> str:
    lines = [f"| group | seeds | {' | '.join(metrics)} |", "|---|---|" + "---|" * len(metrics)]
    for row in rows:
        cells = " | ".join(f"{row[m]:.4g} ± {row[m + '_se']:.2g}" for m in metrics)
        lines.append(f"| {row['group']} | {row['seeds']} | {cells} |")
    return "\n".join(lines)
