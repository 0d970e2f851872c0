"""``shapo-rl evaluate``: play a run's (or a checkpoint's) policy and summarise its episodes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from cli.listing import print_listing

console = Console()
EPISODE_COLUMNS = ("checkpoint", "env_steps", "seed", "deterministic", "episode", "return", "cost", "length")


def evaluate(
    targets: Annotated[list[Path], typer.Argument(
        help="Run directories (their last checkpoint) or checkpoint files, e.g. RUN/checkpoints/epoch0003.ckpt.")],
    episodes: Annotated[int, typer.Option(min=1, help="Episodes to play per checkpoint.")] = 10,
    deterministic: Annotated[bool, typer.Option(
        "--deterministic/--stochastic", help="Mean action, or actions sampled from the policy.")] = True,
    seed: Annotated[int, typer.Option(help="Evaluation seed (distinct from training's by default).")] = 10_000,
    num_envs: Annotated[int, typer.Option(min=1, help="Envs stepped as one batch.")] = 8,
    video: Annotated[Optional[Path], typer.Option(
        help="Render the first episodes offscreen to mp4 files in DIR/<run>/ (MuJoCo tasks).")] = None,
    video_episodes: Annotated[int, typer.Option(min=1, help="Episodes per checkpoint rendered with --video.")] = 1,
) -> None:
    """Evaluate checkpoints; prints a summary table and writes evaluation.csv (one row per episode) to
    each run directory."""
    from shapo_rl.checkpoints import checkpoint_path, load_module, run_directory
    from shapo_rl.evaluation import PERCENTILES, episode_summary, run_episodes

    checkpoints = [checkpoint_path(target) for target in targets]
    modules = [load_module(path) for path in checkpoints]  # every file checked before any episode
    if video is not None:
        from shapo_rl.envs import make_rendering_simulator
        from shapo_rl.evaluation.video import choose_backend, record_episodes

        for module in modules:  # a task without a renderer fails before any episode
            make_rendering_simulator(module.config.env).close()
        backend = choose_backend()
    title = (f"{episodes} {'deterministic' if deterministic else 'stochastic'} episodes per checkpoint "
             "(mean ± standard error, std)")
    columns = ["run", "steps", "return", "std", "cost", "std", *(f"p{q}" for q in PERCENTILES), "violations", "length"]
    rows = []
    for path, module in zip(checkpoints, modules):
        result = run_episodes(module, episodes=episodes, seed=seed, num_envs=num_envs, deterministic=deterministic)
        run = run_directory(path)
        env_steps = int(module.env_steps)
        with (run / "evaluation.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(EPISODE_COLUMNS)
            for k, row in enumerate(zip(result.returns.tolist(), result.costs.tolist(), result.lengths.tolist())):
                writer.writerow([path.name, env_steps, seed, deterministic, k, *row])
        s = episode_summary(result.returns, result.costs, result.lengths, module.config.cost_limit)
        rows.append([f"{run.name}/{path.stem}", str(env_steps), f"{s['return_mean']:.2f}±{s['return_sem']:.2f}",
                     f"{s['return_std']:.2f}", f"{s['cost_mean']:.2f}±{s['cost_sem']:.2f}", f"{s['cost_std']:.2f}",
                     *(f"{s[f'cost_p{q}']:.2f}" for q in PERCENTILES),
                     f"{s['violation_rate']:.0%}>{module.config.cost_limit:g}", f"{s['length_mean']:.1f}"])
        if video is not None:
            for mp4 in record_episodes(module, video / run.name, episodes=video_episodes, seed=seed,
                                       deterministic=deterministic, backend=backend):
                console.print(f"video written to {mp4}")
    if console.is_terminal:
        table = Table(title=title)
        for column in columns:
            table.add_column(column, justify="left" if column == "run" else "right", overflow="fold")  # never "…"
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:  # piped: plain aligned text, one checkpoint per line, nothing cut or wrapped
        typer.echo(title)
        print_listing(columns, rows)
