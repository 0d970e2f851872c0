"""The ``shapo-rl`` command line: train, evaluate, attack, report, list."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.attack import attack
from cli.errors import user_errors
from cli.evaluate import evaluate
from cli.listing import print_listing
from cli.recipe import recipe_app
from cli.report import report

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Safe RL with SHAPO, sTRPO and the standard on-policy baselines.")
console = Console()


class Geometry(str, Enum):
    none = "none"
    fisher = "fisher"
    euclidean = "euclidean"


class Schedule(str, Enum):
    constant = "constant"
    percentile = "percentile"
    decay = "decay"


class SamCritics(str, Enum):
    both = "both"
    reward = "reward"
    cost = "cost"


class Listing(str, Enum):
    algos = "algos"
    envs = "envs"


@app.command()
@user_errors
def train(
    algo: Annotated[Optional[str], typer.Option(help="Algorithm name (see `shapo-rl list algos`).")] = None,
    env: Annotated[Optional[str], typer.Option(help="Task id (see `shapo-rl list envs`).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Total env steps.")] = 100_000,
    steps_per_epoch: Annotated[int, typer.Option(min=1, help="Env steps per rollout / update.")] = 20_000,
    num_envs: Annotated[Optional[int], typer.Option(
        min=1, help="Envs stepped per policy call (default: as many as whole episodes fit in an epoch).")] = None,
    cost_limit: Annotated[Optional[float], typer.Option(help="Per-episode cost limit d (default: the task's).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Run directory.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the run in this directory.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a run already in --out.")] = False,
    shapo: Annotated[Geometry, typer.Option(help="SHAPO actor perturbation geometry.")] = Geometry.none,
    shapo_radius: Annotated[float, typer.Option(min=0.0, help="Perturbation radius delta_p (KL or L2).")] = 1e-5,
    shapo_schedule: Annotated[Schedule, typer.Option(help="How the radius evolves.")] = Schedule.constant,
    shapo_percentile: Annotated[float, typer.Option(help="Pessimism percentile p for --shapo-schedule percentile.")] = 0.05,
    critic_sam: Annotated[bool, typer.Option(help="SAM on the reward and cost critics.")] = False,
    critic_sam_rho: Annotated[float, typer.Option(min=0.0, help="Critic SAM radius rho_c.")] = 0.05,
    critic_sam_on: Annotated[SamCritics, typer.Option(help="Which critics --critic-sam applies to.")] = SamCritics.both,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", metavar="KEY=VALUE",
        help="Any other setting of the run or the algorithm, e.g. --set pid.kp=0.05 --set trust_region.max_kl=0.02 "
             "(repeatable; every key is in the run's config.yaml).")] = None,
    unsafe_policy: Annotated[Optional[Path], typer.Option(
        help="Run directory or checkpoint of the frozen unsafe policy an algorithm excludes (strpo); "
             "the same as --set unsafe_policy=PATH.")] = None,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator.")] = "auto",
    devices: Annotated[str, typer.Option(help="Lightning devices (a count or 'auto').")] = "1",
    strategy: Annotated[str, typer.Option(help="Lightning strategy, e.g. ddp_find_unused_parameters_true.")] = "auto",
    threads: Annotated[int, typer.Option(min=1, help="Torch intra-op threads per process.")] = 1,
    overlap_critics: Annotated[Optional[bool], typer.Option(
        help="On one process, regress each epoch's critics in a child process while the next rollout is "
             "collected (same numbers; default: for long runs, see the README).", show_default=False)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    quiet: Annotated[bool, typer.Option(help="Print nothing but errors (no progress bar, no final line).")] = False,
    logger: Annotated[Optional[list[str]], typer.Option(
        help="Lightning logger(s) beside metrics.csv: csv, tensorboard or wandb (repeatable; tensorboard and "
             "wandb need their package).")] = None,
) -> None:
    """Train a policy; writes config.yaml, metrics.csv and checkpoints/ to the run directory."""
    from shapo_rl.algorithms import apply_settings
    from shapo_rl.config import ConfigError, ShapoConfig, TrainConfig
    from shapo_rl.training import train as run_training

    lightning_devices = int(devices) if devices.isdigit() else devices
    if resume is not None:
        run_dir = resume
        config = None
    else:
        if algo is None or env is None or out is None:
            raise ConfigError("--algo, --env and --out are required (or --resume RUN_DIR)")
        run_dir = out
        config = apply_settings(TrainConfig(
            algo=algo, env=env, steps=steps, steps_per_epoch=steps_per_epoch, num_envs=num_envs,
            cost_limit=cost_limit, seed=seed,
            shapo=ShapoConfig(geometry=shapo.value, radius=shapo_radius, schedule=shapo_schedule.value,
                              percentile=shapo_percentile, critic_sam=critic_sam, critic_sam_rho=critic_sam_rho,
                              critic_sam_on=critic_sam_on.value),
        ), [*(set_ or []), *([f"unsafe_policy={unsafe_policy.resolve()}"] if unsafe_policy else [])])
    path = run_training(config, run_dir, resume=resume is not None, force=force, progress=progress and not quiet,
                        accelerator=accelerator, devices=lightning_devices, strategy=strategy, threads=threads,
                        loggers=logger or [], overlap_critics=overlap_critics)
    if not quiet:
        typer.echo(f"run written to {path}")  # one line, never wrapped, whatever the path's length


@app.command("list")
@user_errors
def list_(
    what: Annotated[Listing, typer.Argument(help="algos or envs")],
    all_: Annotated[bool, typer.Option("--all", help="envs: every safety-gymnasium and gymnasium id that resolves "
                                                     "(builds each once: about 20 s), not only the curated ones.")] = False,
) -> None:
    """List the registered algorithms or tasks (piped: plain text, one per line)."""
    width = console.width if console.is_terminal else None
    if what is Listing.algos:
        from shapo_rl.algorithms import ALGORITHMS

        print_listing(["algorithm", "paper", "description"],
                      [[e.name, e.paper, e.summary] for e in ALGORITHMS.values()], width)
    else:
        from shapo_rl.envs import TASKS

        if all_:
            from shapo_rl.envs.discovery import resolvable_tasks

            specs = resolvable_tasks()
        else:
            specs = list(TASKS.values())
        print_listing(["task", "family", "cost limit", "episode length", "description"],
                      [[s.name, s.family, f"{s.cost_limit:g}", str(s.max_episode_steps), s.description] for s in specs],
                      width)


app.command()(user_errors(evaluate))
app.command()(user_errors(attack))
app.command()(user_errors(report))
app.add_typer(recipe_app, name="recipe")


def main() -> None:
    app(prog_name="shapo-rl")


if __name__ == "__main__":
    sys.exit(main())
