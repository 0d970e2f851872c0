"""Training callbacks: the per-epoch metrics CSV and a rich progress display (plain lines when piped)."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import lightning as L
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shapo_rl.checkpoint_io import atomic_write

# The first columns of metrics.csv, in order; algorithm diagnostics follow.
LEADING_COLUMNS = ("epoch", "env_steps", "ep_return", "ep_cost", "ep_length", "cost_rate", "total_cost",
                   "lagrange_multiplier", "kl", "epoch_seconds")


class MetricsCSV(L.Callback):
    """Writes ``metrics.csv``, one row per epoch from the module's ``epoch_metrics``, and hands the
    same row to the trainer's loggers (TensorBoard, W&B, ...) at step ``env_steps``, so every
    logger shows every column.

    The file is rewritten atomically at every epoch end (it is small), so a kill never leaves a
    torn row. On resume only the rows of epochs the checkpoint covers are kept, so a killed and
    resumed run has each epoch exactly once.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._columns: list[str] | None = None
        self._rows: list[dict] = []
        self._epoch_start = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.path.exists() or trainer.current_epoch == 0:
            return
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            self._columns = list(reader.fieldnames or [])
            self._rows = [row for row in reader if _epoch_of(row) is not None
                          and _epoch_of(row) < trainer.current_epoch]

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        row = dict(pl_module.epoch_metrics)
        row["epoch_seconds"] = time.perf_counter() - self._epoch_start
        if self._columns is None:
            self._columns = [*LEADING_COLUMNS, *(k for k in row if k not in LEADING_COLUMNS)]
        self._rows.append({k: _format(v) for k, v in row.items()})
        atomic_write(self.path, self._write)
        for logger in trainer.loggers:
            logger.log_metrics({k: float(v) for k, v in row.items()}, step=int(row["env_steps"]))

    def _write(self, f) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=self._columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self._rows)
        f.write(text.getvalue().encode())


def _epoch_of(row: dict) -> int | None:
    """The epoch of a CSV row, or None for a row that is not whole."""
    try:
        return int(row["epoch"]) if None not in row.values() else None
    except (KeyError, TypeError, ValueError):
        return None


def _format(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


class TrainingProgress(L.Callback):
    """A rich progress bar over env steps with elapsed time and ETA, showing the run's env steps/s
    and the last epoch's return, cost, multiplier and KL; when the output is not a terminal (piped,
    a log file), one plain line per epoch with the same figures instead."""

    def __init__(self, total_steps: int):
        self.total_steps = total_steps
        self._progress: Progress | None = None
        self._task = None
        self._plain = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._start, self._start_steps = time.perf_counter(), int(pl_module.env_steps)
        self._label = f"{pl_module.config.algo} on {pl_module.config.env}"
        console = Console()
        if not console.is_terminal:
            self._plain = True
            return
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                  console=console)
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=self.total_steps, completed=int(pl_module.env_steps),
                                             status="")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._progress is None and not self._plain:
            return
        m = pl_module.epoch_metrics
        rate = (m["env_steps"] - self._start_steps) / max(time.perf_counter() - self._start, 1e-9)
        status = (f"{rate:,.0f} steps/s  return {m['ep_return']:.2f}  cost {m['ep_cost']:.2f}  "
                  f"lambda {m['lagrange_multiplier']:.3f}  kl {m['kl']:.4f}")
        if self._plain:
            print(f"{self._label}  {int(m['env_steps']):,}/{self.total_steps:,} steps  {status}", flush=True)
        else:
            self._progress.update(self._task, completed=m["env_steps"], status=status)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
