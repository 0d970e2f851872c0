"""Run directories read back for reports, and grouped by (task, algorithm, variant).

A run's variant is what changes the algorithm without changing its name: the config's ``shapo``
section (SHAPO geometry, radius, schedule; critic SAM) and, when present, a free ``variant``
key. Runs are grouped on the task, the algorithm and those settings, so seeds of one setting
pool and two settings never do; every other config section is ignored, so sections that later
algorithms add do not split or break the grouping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from shapo_rl.reporting import ReportError


@dataclass(frozen=True)
class Run:
    path: Path
    config: dict
    metrics: pd.DataFrame
    evaluation: pd.DataFrame | None  # evaluation.csv: one row per episode
    attack: pd.DataFrame | None  # attack.csv: one row per (alpha, episode)

    @property
    def task(self) -> str:
        return self.config["env"]

    @property
    def algo(self) -> str:
        return self.config["algo"]

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def cost_limit(self) -> float:
        return float(self.config["cost_limit"])

    @property
    def variant(self) -> str:
        return variant_label(self.config)

    @property
    def group(self) -> tuple[str, str, str]:
        """(task, algorithm, variant settings as canonical JSON): the pooling key."""
        return self.task, self.algo, json.dumps(variant_settings(self.config), sort_keys=True, default=str)


_SHAPO_DEFAULTS = {"geometry": "none", "schedule": "constant", "critic_sam": False, "critic_sam_on": "both"}
_SOLVE_DEFAULTS = {"cg_iters": 15, "damping": 0.1, "fallback": "zero"}  # the perturbation's solve; named only when changed


def variant_settings(config: dict) -> dict:
    """The settings that make a run's variant: the ``shapo`` section without the values its own
    switches make irrelevant (a radius when geometry is none, SAM's rho when SAM is off), and
    the ``variant`` key when there is one."""
    shapo = {**_SHAPO_DEFAULTS, **(config.get("shapo") or {})}
    for name, default in _SOLVE_DEFAULTS.items():
        if shapo["geometry"] == "none" or shapo.get(name, default) == default:
            shapo.pop(name, None)
    if shapo["geometry"] == "none":
        for name in ("radius", "schedule", "percentile"):
            shapo.pop(name, None)
    elif shapo["schedule"] != "percentile":
        shapo.pop("percentile", None)
    if not shapo["critic_sam"]:
        shapo.pop("critic_sam_rho", None)
        shapo.pop("critic_sam_on", None)
    return {"shapo": shapo, "variant": config.get("variant")}


def variant_label(config: dict) -> str:
    """A short name for a run's variant, e.g. ``vanilla`` or ``shapo-fisher-1e-05+sam0.05``;
    settings it does not know are appended as ``key=value``."""
    settings = variant_settings(config)
    shapo = dict(settings["shapo"])
    parts = []
    geometry = shapo.pop("geometry")
    if geometry != "none":
        part = f"shapo-{geometry}-{shapo.pop('radius', 0):g}"
        schedule = shapo.pop("schedule", "constant")
        if schedule == "percentile":
            part += f"-p{shapo.pop('percentile', 0):g}"
        elif schedule != "constant":
            part += f"-{schedule}"
        parts.append(part)
    if shapo.pop("critic_sam"):
        on = shapo.pop("critic_sam_on", "both")
        parts.append(f"sam{shapo.pop('critic_sam_rho', 0):g}" + ("" if on == "both" else f"-{on}"))
    shapo.pop("critic_sam_on", None)
    parts += [f"{key}={value}" for key, value in sorted(shapo.items())]
    label = "+".join(parts) or "vanilla"
    return f"{settings['variant']}:{label}" if settings["variant"] else label


def _csv(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.is_file() else None


def load_run(path: Path) -> Run:
    path = Path(path)
    config_path, metrics_path = path / "config.yaml", path / "metrics.csv"
    if not config_path.is_file() or not metrics_path.is_file():
        raise ReportError(f"{path} is not a run directory (needs config.yaml and metrics.csv)")
    try:
        config = yaml.safe_load(config_path.read_text())
        metrics = pd.read_csv(metrics_path)
    except (yaml.YAMLError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise ReportError(f"{path}: unreadable config.yaml or metrics.csv ({type(err).__name__})") from None
    if not isinstance(config, dict) or not {"env", "algo", "cost_limit"} <= set(config) or metrics.empty:
        raise ReportError(f"{path}: config.yaml lacks env/algo/cost_limit or metrics.csv has no epoch")
    return Run(path, config, metrics, _csv(path / "evaluation.csv"), _csv(path / "attack.csv"))


@dataclass(frozen=True)
class Group:
    """The seeds of one (task, algorithm, variant), sorted by seed."""

    runs: tuple[Run, ...]

    @property
    def task(self) -> str:
        return self.runs[0].task

    @property
    def algo(self) -> str:
        return self.runs[0].algo

    @property
    def variant(self) -> str:
        return self.runs[0].variant

    @property
    def label(self) -> str:
        return f"{self.algo} {self.variant}"

    @property
    def cost_limit(self) -> float:
        return self.runs[0].cost_limit


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs pooled by :attr:`Run.group`, in order of task, then algorithm, then variant."""
    pools: dict[tuple, list[Run]] = {}
    for run in runs:
        pools.setdefault(run.group, []).append(run)
    groups = [Group(tuple(sorted(pool, key=lambda r: r.seed))) for pool in pools.values()]
    return sorted(groups, key=lambda g: (g.task, g.algo, g.variant))
