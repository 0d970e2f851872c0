"""``shapo-rl recipe``: list, show, run, status and report the papers' experiments."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from cli.errors import user_errors
from cli.listing import print_listing

recipe_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                         help="The papers' experiments as recipes: grids of runs, their post-processing and report.")
console = Console()


class ScaleName(str, Enum):
    smoke = "smoke"
    bench = "bench"
    paper = "paper"


class Engine(str, Enum):
    local = "local"
    slurm = "slurm"


Name = Annotated[str, typer.Argument(help="Recipe name (see `shapo-rl recipe list`).")]
ScaleOption = Annotated[ScaleName, typer.Option(help="smoke: tiny budgets, minutes; bench: the largest budget one "
                                                    "workstation affords (the evidence recipes); paper: the papers' budgets.")]
StepsOption = Annotated[Optional[int], typer.Option(min=1, help="Env steps per run instead of the scale's.")]
SeedsOption = Annotated[Optional[str], typer.Option(help="Seeds instead of the scale's, e.g. 0,1,2.")]
TasksOption = Annotated[Optional[str], typer.Option(help="Only these of the recipe's tasks, e.g. SafetyHopperVelocity-v1.")]
AlgosOption = Annotated[Optional[str], typer.Option("--algorithms", help="Only these of the recipe's algorithms, e.g. trpo-lag,cpo.")]
OutOption = Annotated[Path, typer.Option(help="Root folder; runs go to OUT/<scale>/runs, logs to OUT/<scale>/logs.")]


def _width() -> int | None:
    return console.width if console.is_terminal else None


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(name.strip() for name in text.split(","))


def _seeds(text: str | None) -> tuple[int, ...] | None:
    from shapo_rl.config import ConfigError

    if text is None:
        return None
    try:
        return tuple(int(seed) for seed in _names(text))
    except ValueError:
        raise ConfigError(f"--seeds expects integers separated by commas, got {text!r}") from None


def _plan(name: str, scale: ScaleName, steps: int | None, seeds: str | None, out: Path,
          tasks: str | None = None, algos: str | None = None):
    """(recipe, scale, the recipe's folder at that scale, its validated plan)."""
    from recipes import get_recipe

    recipe = get_recipe(name).restricted(_names(tasks), _names(algos))
    chosen = recipe.scale(scale.value, steps, _seeds(seeds))
    folder = out / chosen.name
    return recipe, chosen, folder, recipe.plan(chosen, folder)


@recipe_app.command("list")
@user_errors
def list_() -> None:
    """Every recipe, its size at paper scale and the figure or table it produces."""
    from recipes import recipes

    rows = []
    for name, (recipe, produces) in recipes().items():
        runs = sum(len(g.algos) * len(g.tasks) * len(g.variants) for g in recipe.grids) * len(recipe.paper.seeds)
        rows.append([name, str(runs), produces])
    print_listing(["recipe", "paper runs", "produces"], rows, _width())


@recipe_app.command()
@user_errors
def show(name: Name, scale: ScaleOption = ScaleName.paper, steps: StepsOption = None, seeds: SeedsOption = None,
         tasks: TasksOption = None, algorithms: AlgosOption = None,
         jobs: Annotated[int, typer.Option(min=1, help="Runs at a time, for the wall-time estimate.")] = os.cpu_count() or 1,
         out: OutOption = Path("runs/recipes")) -> None:
    """The recipe's grids, its size in runs and env steps, and its estimated time."""
    from shapo_rl.launch.throughput import grid_seconds

    recipe, chosen, folder, plan = _plan(name, scale, steps, seeds, out, tasks, algorithms)
    width = _width()
    if recipe.grids:
        print_listing(["grid", "needs", "algorithms", "tasks", "variants"],
                      [[g.name, g.needs.grid if g.needs else "-", ", ".join(g.algos), ", ".join(g.tasks),
                        ", ".join(v.name or "-" for v in g.variants)] for g in recipe.grids], width)
        typer.echo("")
        variants = {v.name: v for g in recipe.grids for v in g.variants if v.name}
        if variants:
            print_listing(["variant", "settings"], [[v.name, " ".join(v.settings) or "(defaults)"]
                                                    for v in variants.values()], width)
            typer.echo("")
    posts = ", ".join(type(step).__name__.lower() for step in recipe.post)
    cpu, wall = grid_seconds((run.config for run in plan), jobs)
    steps_total = sum(run.config.steps for run in plan)
    budgets = sorted({run.config.steps for run in plan}) or [chosen.steps]
    budget = f"{budgets[0]:,}" + (f" to {budgets[-1]:,}" if len(budgets) > 1 else "")
    typer.echo(f"scale {chosen.name}: {len(plan)} runs of {budget} env steps ({steps_total:,} in all), "
               f"seeds {', '.join(map(str, chosen.seeds))}" + (f"; then {posts}" if posts else ""))
    typer.echo(f"estimated time: {_duration(cpu)} of CPU, {_duration(wall)} at {jobs} runs at a time "
               "(measured 2-core speeds, shapo_rl/launch/throughput.py)")
    if recipe.figures is not None:
        typer.echo("figures computed without training: `shapo-rl recipe report` draws them")
    typer.echo(f"runs in {folder / 'runs'}")


@recipe_app.command()
@user_errors
def run(
    name: Name, scale: ScaleOption = ScaleName.smoke, steps: StepsOption = None, seeds: SeedsOption = None,
    tasks: TasksOption = None, algorithms: AlgosOption = None, out: OutOption = Path("runs/recipes"),
    engine: Annotated[Engine, typer.Option(help="local: processes on this machine; slurm: job arrays via submitit.")]
    = Engine.local,
    jobs: Annotated[int, typer.Option(min=1, help="local: runs at a time (each one torch thread).")]
    = os.cpu_count() or 1,
    partition: Annotated[Optional[str], typer.Option(help="slurm: partition.")] = None,
    time: Annotated[int, typer.Option(min=1, help="slurm: minutes per job; a longer run requeues and resumes.")]
    = 240,
    cpus: Annotated[int, typer.Option(min=1, help="slurm: CPUs per job.")] = 1,
    gpus: Annotated[int, typer.Option(min=0, help="slurm: GPUs per job.")] = 0,
    max_parallel: Annotated[int, typer.Option(min=1, help="slurm: array tasks running at once.")] = 64,
    results: Annotated[Optional[Path], typer.Option(
        help="Skip the runs already exported, done, to RESULTS/NAME/runs (`recipe export`), and continue "
             "those exported unfinished to RESULTS/NAME/unfinished: a grid continued on another machine.")] = None,
) -> None:
    """Train what is not finished (resuming interrupted runs, skipping finished ones), then
    post-process; exit code 1 when a run failed (see `recipe status`)."""
    from shapo_rl.launch.engines import LocalEngine, SlurmEngine
    from shapo_rl.launch.job import done
    from shapo_rl.launch.recipe import check_reuse
    from shapo_rl.launch.results import continue_unfinished

    recipe, chosen, folder, plan = _plan(name, scale, steps, seeds, out, tasks, algorithms)
    if results is not None:
        exported = results / recipe.name / "runs"
        left = [p for p in plan if not done(dataclasses.replace(p.spec, run_dir=exported / p.spec.name))]
        typer.echo(f"{len(plan) - len(left)} of {len(plan)} runs already exported to {exported}: skipped")
        if plan and not left:
            return
        plan = left
        unfinished = results / recipe.name / "unfinished"
        continued = [p.spec.name for p in plan if continue_unfinished(unfinished / p.spec.name, p.spec.run_dir)]
        if continued:
            typer.echo(f"continuing {len(continued)} runs from {unfinished}: {', '.join(continued)}")
    check_reuse(plan)
    if not plan:
        typer.echo(f"{recipe.name} trains nothing; `shapo-rl recipe report {recipe.name}` draws its figures")
        return
    lock = threading.Lock()

    def report(spec, outcome: str) -> None:
        with lock:
            typer.echo(f"{spec.name}: {outcome}")

    specs = [planned.spec for planned in plan]
    if engine is Engine.slurm:
        arrays = SlurmEngine(folder / "slurm", partition=partition, time_min=time, cpus=cpus, gpus=gpus,
                             max_parallel=max_parallel, job_name=recipe.name).run(specs, report)
        typer.echo(f"submitted {len(specs)} jobs in {len(arrays)} arrays ({', '.join(arrays)}); "
                   f"`shapo-rl recipe status {recipe.name} --scale {scale.value}` follows them")
        return
    failed = LocalEngine(jobs).run(specs, report)
    typer.echo(f"{len(specs) - failed} of {len(specs)} runs done" + (f", {failed} failed" if failed else ""))
    if failed:
        raise typer.Exit(1)


@recipe_app.command()
@user_errors
def status(name: Name, scale: ScaleOption = ScaleName.smoke, steps: StepsOption = None, seeds: SeedsOption = None,
           tasks: TasksOption = None, algorithms: AlgosOption = None,
           out: OutOption = Path("runs/recipes")) -> None:
    """Each run: done, running, failed (with the last line of its failure) or pending."""
    from shapo_rl.launch.job import state

    _, _, folder, plan = _plan(name, scale, steps, seeds, out, tasks, algorithms)
    states = [(planned.spec.name, *state(planned.spec)) for planned in plan]
    print_listing(["run", "state", "detail"], [list(row) for row in states], _width())
    counts = {s: sum(row[1] == s for row in states) for s in ("done", "running", "failed", "pending")}
    typer.echo(", ".join(f"{count} {s}" for s, count in counts.items()) + f" (logs in {folder / 'logs'})")


@recipe_app.command()
@user_errors
def export(name: Name, scale: ScaleOption = ScaleName.bench, steps: StepsOption = None, seeds: SeedsOption = None,
           tasks: TasksOption = None, algorithms: AlgosOption = None, out: OutOption = Path("runs/recipes"),
           to: Annotated[Path, typer.Option(help="Folder of the committed evidence; runs go to TO/NAME/runs.")]
           = Path("results"),
           unfinished: Annotated[bool, typer.Option(
               help="Also copy each interrupted run's config, metrics and last checkpoint to TO/NAME/unfinished/<run>, "
                    "for `recipe run --results TO` to continue elsewhere.")] = False) -> None:
    """Copy each done run's config, metrics, evaluation and attack CSVs (no checkpoints) to
    TO/NAME/runs/<run>, paths in configs made relative (and its unfinished copy removed); runs
    not done yet are named and skipped, or with --unfinished exported to continue."""
    from shapo_rl.launch.job import done
    from shapo_rl.launch.results import export_run, export_unfinished

    recipe, _, folder, plan = _plan(name, scale, steps, seeds, out, tasks, algorithms)
    missing, kept = [], []
    for spec in (planned.spec for planned in plan):
        parked = to / recipe.name / "unfinished" / spec.name
        if done(spec):
            export_run(spec.run_dir, to / recipe.name / "runs" / spec.name)
            shutil.rmtree(parked, ignore_errors=True)
        else:
            missing.append(spec.name)
            if unfinished and export_unfinished(spec.run_dir, parked):
                kept.append(spec.name)
    typer.echo(f"exported {len(plan) - len(missing)} of {len(plan)} runs to {to / recipe.name / 'runs'}"
               + (f"; not done yet: {', '.join(missing)}" if missing else "")
               + (f"; to continue: {len(kept)} in {to / recipe.name / 'unfinished'}" if kept else ""))


@recipe_app.command("report")
@user_errors
def report_(name: Name, scale: ScaleOption = ScaleName.smoke, steps: StepsOption = None,
            seeds: SeedsOption = None, tasks: TasksOption = None, algorithms: AlgosOption = None,
            out: OutOption = Path("runs/recipes"),
            results: Annotated[Optional[Path], typer.Option(
                help="Read the runs exported to RESULTS/NAME/runs (`recipe export`) instead of OUT, and "
                     "write the report to RESULTS/NAME/report.")] = None) -> None:
    """Draw the recipe's figures and tables from its finished runs (`shapo-rl report`) to
    OUT/<scale>/reports/NAME, or from its exported runs to RESULTS/NAME/report."""
    from shapo_rl.launch.job import finished
    from shapo_rl.reporting import ReportError
    from shapo_rl.reporting.report import write_report

    recipe, _, folder, plan = _plan(name, scale, steps, seeds, out, tasks, algorithms)
    plan = recipe.reported_runs(plan)
    if results is None:
        target, runs_folder = folder / "reports" / recipe.name, folder / "runs"
        candidates = [planned.spec.run_dir for planned in plan]
    else:
        target, runs_folder = results / recipe.name / "report", results / recipe.name / "runs"
        candidates = [runs_folder / planned.spec.name for planned in plan]
    runs = [run for run in candidates if finished(run)]
    if not runs and recipe.figures is None:
        raise ReportError(f"no finished run of {recipe.name} in {runs_folder}; "
                          f"run `shapo-rl recipe run {recipe.name}` first")
    if runs:
        typer.echo(f"report of {len(runs)} of {len(plan)} runs written to {write_report(runs, target, recipe.against)}")
    if recipe.figures is not None:
        for path in recipe.figures(target / "figures"):
            typer.echo(f"written {path}")
