"""``shapo-rl report``: figures, tables and report.md from run directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console()


def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories written by `shapo-rl train`.")],
    out: Annotated[Path, typer.Option(help="Folder for report.md, figures/ and the tables.")] = Path("report"),
    against: Annotated[Optional[str], typer.Option(
        help="Compare every group of a task with this algorithm's vanilla runs (default: each variant "
             "with its own algorithm's vanilla runs).")] = None,
) -> None:
    """Group runs by (task, algorithm, variant), pool their seeds, and write report.md with learning
    curves, Pareto ellipses, cost distributions, attack curves, runtimes and rliable aggregates."""
    from shapo_rl.reporting.report import write_report

    console.print(f"report written to {write_report(run_dirs, out, against)}")
