"""``shapo-rl attack``: random-action attack sweeps of several checkpoints side by side."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
COLUMNS = ("run", "checkpoint", "alpha", "episode", "return", "cost", "length")


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def attack(
    targets: Annotated[list[Path], typer.Argument(help="Run directories (their last checkpoint) or checkpoint files.")],
    rates: Annotated[str, typer.Option(help="Attack rates alpha: start:stop:step (stop included) or a comma list.")]
    = "0:1:0.1",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes per checkpoint and rate.")] = 10,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic/--stochastic", help="Mean action, or actions sampled from the policy.")] = True,
    seed: Annotated[int, typer.Option(help="Evaluation seed, the same at every rate.")] = 10_000,
    num_envs: Annotated[int, typer.Option(min=1, help="Envs stepped as one batch.")] = 8,
    out: Annotated[Path, typer.Option(help="Folder for the combined attack.csv and the attack curves.")]
    = Path("attack"),
) -> None:
    """With probability alpha per step, replace the action by a uniform random one; writes attack.csv
    (run, alpha, episode, return, cost) to each run directory and, for all runs, to OUT with the
    attack curves (return and cost against alpha, mean and standard error)."""
    import pandas as pd

    from shapo_rl.checkpoints import checkpoint_path, load_module, run_directory
    from shapo_rl.evaluation import attack_sweep, parse_rates
    from shapo_rl.reporting.figures import attack_curves, save_figure

    alphas = parse_rates(rates)
    checkpoints = [checkpoint_path(target) for target in targets]
    modules = [load_module(path) for path in checkpoints]  # every file checked before any episode
    everything = []
    for target, path, module in zip(targets, checkpoints, modules):
        rows = [{"run": str(target), "checkpoint": path.name, **row}
                for row in attack_sweep(module, alphas, episodes=episodes, seed=seed, num_envs=num_envs,
                                        deterministic=deterministic)]
        _write(run_directory(path) / "attack.csv", rows)
        everything += rows
        console.print(f"{target}: {len(alphas)} rates x {episodes} episodes")
    _write(out / "attack.csv", everything)
    frame = pd.DataFrame(everything)
    curves = {run: frame[frame["run"] == run] for run in frame["run"].unique()}
    figure = attack_curves(curves, f"random-action attack, {episodes} episodes per rate (mean, standard error)")
    for written in save_figure(figure, out / "attack_curves"):
        console.print(f"written {written}")
    console.print(f"written {out / 'attack.csv'}")
