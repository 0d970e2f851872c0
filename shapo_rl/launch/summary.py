"""A grid's summary over seeds: mean and standard error of each metric of the runs' last epoch."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path


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
