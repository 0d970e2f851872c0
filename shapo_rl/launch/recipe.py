"""A recipe: one paper experiment declared as data, turned into validated run jobs.

A :class:`Recipe` holds grids (algorithms x tasks x variants, each variant a list of
``--set``-style settings), the post-processing of its trained runs (evaluation, attack
sweep), a ``paper`` and a ``smoke`` :class:`Scale`, and optionally extra figures computed
without training. :meth:`Recipe.plan` expands it into one :class:`~shapo_rl.launch.job.RunSpec`
per (grid, algorithm, task, variant, seed), each checked by building its configuration with
the same functions ``shapo-rl train`` uses, so a mistyped setting is a ConfigError before
anything runs. A grid may need the runs of an earlier grid (sTRPO needs an unsafe policy per
task and seed): :class:`Needs` names that grid and the setting that receives the run directory.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.launch.job import Command, RunSpec


@dataclass(frozen=True)
class Variant:
    """A named list of settings (``shapo.geometry=fisher``, ``pid.init=0.1``) a grid runs with."""

    name: str
    settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Needs:
    """Each run of the grid needs the run of grid ``grid`` with its task and seed (and algorithm
    ``algo`` when that grid has several), whose directory it receives as the setting ``setting``."""

    grid: str
    setting: str
    algo: str | None = None


@dataclass(frozen=True)
class Grid:
    """Every algorithm on every task with every variant; ``settings`` apply to all of them.
    ``budgets``: (scale name, env steps) pairs where this grid's runs take another budget than
    the scale's (a shorter arm beside 10M-step ones); a scale whose budget was overridden
    (``--steps``) or that is not named keeps its own."""

    name: str
    algos: tuple[str, ...]
    tasks: tuple[str, ...]
    variants: tuple[Variant, ...] = (Variant(""),)
    settings: tuple[str, ...] = ()
    needs: Needs | None = None
    budgets: tuple[tuple[str, int], ...] = ()

    def steps(self, scale: Scale) -> int:
        """The env steps of this grid's runs at ``scale`` (a whole number of its epochs)."""
        steps = dict(self.budgets).get(scale.name, scale.steps)
        if steps < scale.steps_per_epoch or steps % scale.steps_per_epoch:
            raise ConfigError(f"grid {self.name}: a budget of {steps} steps at scale {scale.name} is not a whole "
                              f"number of its {scale.steps_per_epoch}-step epochs")
        return steps


@dataclass(frozen=True)
class Scale:
    """Budget per run, seeds, and the post-processing's episodes and attack rates (None: the
    recipe's own)."""

    name: str
    steps: int
    steps_per_epoch: int
    seeds: tuple[int, ...]
    episodes: int | None = None
    attack_rates: str | None = None

    def with_overrides(self, steps: int | None = None, seeds: tuple[int, ...] | None = None) -> "Scale":
        """This scale with another budget (rounded up to whole epochs; one epoch when smaller
        than an epoch) and/or other seeds; the name records a changed budget."""
        scale = self
        if steps is not None:
            if steps < 1:
                raise ConfigError(f"--steps must be >= 1, got {steps}")
            per_epoch = min(self.steps_per_epoch, steps)
            scale = dataclasses.replace(scale, name=f"{self.name}-steps{steps}", steps_per_epoch=per_epoch,
                                        steps=math.ceil(steps / per_epoch) * per_epoch)
        if seeds is not None:
            scale = dataclasses.replace(scale, seeds=seeds)
        return scale


SMOKE = Scale("smoke", steps=2000, steps_per_epoch=1000, seeds=(0,), episodes=2, attack_rates="0,0.5,1")
# SHAPO: 10M steps of 20,000-step epochs (App. E.3 and the authors' code); 5 seeds are our choice.
PAPER_SHAPO = Scale("paper", steps=10_000_000, steps_per_epoch=20_000, seeds=(0, 1, 2, 3, 4))
# sTRPO: 15,000-step epochs (Sec. 5.2); the paper gives no budget or seed count, so 667 epochs
# (about 1e7 steps, as SHAPO's) and 5 seeds are our choice.
PAPER_STRPO = Scale("paper", steps=10_005_000, steps_per_epoch=15_000, seeds=(0, 1, 2, 3, 4))


@dataclass(frozen=True)
class Evaluate:
    """``shapo-rl evaluate`` of each trained run of ``grids`` (all grids when empty)."""

    episodes: int = 10
    grids: tuple[str, ...] = ()

    def command(self, scale: Scale) -> Command:
        return Command(("evaluate", "--episodes", str(scale.episodes or self.episodes), "{run}"), "evaluation.csv")


@dataclass(frozen=True)
class Attack:
    """``shapo-rl attack`` (random-action sweep) of each trained run of ``grids`` (all when empty)."""

    rates: str = "0:1:0.1"
    episodes: int = 10
    grids: tuple[str, ...] = ()

    def command(self, scale: Scale) -> Command:
        return Command(("attack", "--rates", scale.attack_rates or self.rates, "--episodes",
                        str(scale.episodes or self.episodes), "--out", "{run}/attack", "{run}"), "attack.csv")


@dataclass(frozen=True)
class PlannedRun:
    """A run job with the configuration it was validated as and the grid that planned it."""

    spec: RunSpec
    config: TrainConfig
    grid: str = ""


@dataclass(frozen=True)
class Recipe:
    """One experiment; ``figures(out)`` draws figures computed without training (returns the
    files written); ``bench``, when given, is the largest budget one workstation affords (the
    committed evidence in results/); ``against``, the algorithm whose vanilla runs the report
    compares every group with (None: each variant with its own algorithm's vanilla runs);
    ``reported``, the grids whose runs the report shows (empty: all; sTRPO's unsafe policies
    are a means, not an arm)."""

    name: str
    paper: Scale
    grids: tuple[Grid, ...] = ()
    smoke: Scale = SMOKE
    bench: Scale | None = None
    against: str | None = None
    reported: tuple[str, ...] = ()
    post: tuple[Evaluate | Attack, ...] = ()
    figures: Callable[[Path], list[Path]] | None = None

    def reported_runs(self, plan: list[PlannedRun]) -> list[PlannedRun]:
        """The runs of ``plan`` that the report shows."""
        return [run for run in plan if not self.reported or run.grid in self.reported]

    def scale(self, name: str, steps: int | None = None, seeds: tuple[int, ...] | None = None) -> Scale:
        scales = {"smoke": self.smoke, "paper": self.paper, **({"bench": self.bench} if self.bench else {})}
        if name not in scales:
            raise ConfigError(f"recipe {self.name} has no scale {name!r} (its scales: {', '.join(scales)})")
        return scales[name].with_overrides(steps, seeds)

    def restricted(self, tasks: tuple[str, ...] | None = None, algos: tuple[str, ...] | None = None) -> "Recipe":
        """This recipe restricted to ``tasks`` and ``algos`` (None: all; each must be one of the
        recipe's); grids left with no task or algorithm are dropped. Run names do not change, so
        the runs are the full recipe's."""
        grids = self.grids
        for field, noun, chosen in (("tasks", "task", tasks), ("algos", "algorithm", algos)):
            if chosen is None:
                continue
            known = {item for grid in grids for item in getattr(grid, field)}
            unknown = [item for item in chosen if item not in known]
            if unknown:
                raise ConfigError(f"recipe {self.name} has no {noun} {', '.join(unknown)} "
                                  f"(its {noun}s: {', '.join(sorted(known)) or 'none'})")
            kept = (dataclasses.replace(grid, **{field: tuple(i for i in getattr(grid, field) if i in chosen)})
                    for grid in grids)
            grids = tuple(grid for grid in kept if getattr(grid, field))
        return dataclasses.replace(self, grids=grids)

    def plan(self, scale: Scale, out: Path) -> list[PlannedRun]:
        """The recipe's runs at ``scale`` under ``out`` (runs/ and logs/), in dependency order,
        each configuration validated. A run is named by task, algorithm, variant and seed, so
        recipes that declare the same run share it; a name met twice with two configurations,
        or a grid needing a run not planned before it, is a ConfigError."""
        from shapo_rl.algorithms import apply_settings
        from shapo_rl.training import resolve

        out = Path(out).resolve()
        planned: dict[str, PlannedRun] = {}
        cells: list[tuple[tuple, PlannedRun]] = []  # ((grid, algo, task, seed), run) for Needs
        for grid in self.grids:
            post = tuple(step.command(scale) for step in self.post if not step.grids or grid.name in step.grids)
            steps = grid.steps(scale)
            for algo, task, variant, seed in itertools.product(grid.algos, grid.tasks, grid.variants, scale.seeds):
                name = ".".join(filter(None, (task, algo, variant.name, f"seed{seed}")))
                settings = [*grid.settings, *variant.settings, *([f"variant={variant.name}"] if variant.name else [])]
                needs = ()
                if grid.needs is not None:
                    upstream = _needed(cells, grid, task, seed)
                    settings.append(f"{grid.needs.setting}={upstream.spec.run_dir}")
                    needs = (upstream.spec.run_dir,)
                base = TrainConfig(algo=algo, env=task, steps=steps, steps_per_epoch=scale.steps_per_epoch, seed=seed)
                try:
                    config = resolve(apply_settings(base, settings))
                except ValueError as err:  # ConfigError and the registries' unknown-name errors
                    raise ConfigError(f"recipe {self.name}, run {name}: {err}") from None
                args = ("--algo", algo, "--env", task, "--steps", str(steps),
                        "--steps-per-epoch", str(scale.steps_per_epoch), "--seed", str(seed),
                        *(arg for setting in settings for arg in ("--set", setting)))
                run = PlannedRun(RunSpec(name, out / "runs" / name, out / "logs", args, needs, post), config, grid.name)
                if name in planned and planned[name].config != config:
                    raise ConfigError(f"recipe {self.name}: two runs named {name} with different settings")
                planned.setdefault(name, run)
                cells.append(((grid.name, algo, task, seed), planned[name]))
        return list(planned.values())


def _needed(cells: list[tuple[tuple, PlannedRun]], grid: Grid, task: str, seed: int) -> PlannedRun:
    """The one run of the grid ``grid.needs`` names for this task and seed."""
    needs = grid.needs
    matches = [run for (g, algo, t, s), run in cells
               if g == needs.grid and t == task and s == seed and needs.algo in (None, algo)]
    if len(matches) != 1:
        raise ConfigError(f"grid {grid.name} needs one run of grid {needs.grid!r} on {task}, seed {seed}"
                          f"{f' ({needs.algo})' if needs.algo else ''}; found {len(matches)} "
                          "(the needed grid must come first)")
    return matches[0]


def check_reuse(plan: list[PlannedRun]) -> None:
    """Refuse to continue a run directory written with other settings than planned (an edited
    recipe, or another recipe's run of the same name): a ConfigError naming it."""
    from shapo_rl.training import RunDirectoryError, load_config

    for run in plan:
        if (run.spec.run_dir / "config.yaml").is_file():
            try:
                saved = load_config(run.spec.run_dir)
            except RunDirectoryError as err:
                raise ConfigError(str(err)) from None
            if saved != run.config:
                raise ConfigError(f"{run.spec.run_dir} holds a run with other settings than the recipe's; "
                                  "remove it or choose another --out")
