"""``report.md`` from run directories: every figure (PNG for the page, PDF beside it) and table,
with relative links, so the folder reads on GitHub as it is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from shapo_rl.reporting import aggregate, differences, figures, scores
from shapo_rl.reporting import ReportError
from shapo_rl.reporting.runs import Group, group_runs, load_run


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def _markdown(frame: pd.DataFrame) -> str:
    """A GitHub table; floats with 4 significant digits."""
    def cell(value) -> str:
        return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


class _Page:
    """report.md being written: sections, figures saved under ``figures/``."""

    def __init__(self, out: Path):
        self.out = out
        self.lines: list[str] = ["# Report", ""]
        self.figures: list[Path] = []

    def text(self, *lines: str) -> None:
        self.lines += [*lines, ""]

    def figure(self, fig, name: str, caption: str) -> None:
        png, pdf = figures.save_figure(fig, self.out / "figures" / _slug(name))
        self.figures += [png, pdf]
        self.text(f"![{caption}](figures/{png.name})", f"*{caption}* ([PDF](figures/{pdf.name}))")


def _by_task(groups: list[Group]) -> dict[str, list[Group]]:
    tasks: dict[str, list[Group]] = {}
    for group in groups:
        tasks.setdefault(group.task, []).append(group)
    return tasks


def write_report(run_dirs: Sequence[Path], out: Path, against: str | None = None) -> Path:
    """Group the runs, draw every figure, write ``out/report.md`` and the tables as CSV; return
    the path of report.md. ``against``: the algorithm whose vanilla group every group of a task
    is compared with (default: each variant against the vanilla group of its own algorithm)."""
    if not run_dirs:
        raise ReportError("no run directories given")
    runs = [load_run(Path(path)) for path in run_dirs]
    groups = group_runs(runs)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    page = _Page(out)
    tasks = _by_task(groups)

    overview = pd.DataFrame([{"task": g.task, "algorithm": g.algo, "variant": g.variant,
                              "seeds": ", ".join(str(r.seed) for r in g.runs),
                              "runs": ", ".join(str(r.path) for r in g.runs)} for g in groups])
    page.text(f"{len(runs)} runs in {len(groups)} groups of (task, algorithm, variant); seeds pooled. "
              "Bands, ellipses and error bars are standard errors over seeds unless stated.", "",
              _markdown(overview))

    page.text("## Learning curves")
    for task, members in tasks.items():
        curves = {g.label: aggregate.learning_curve(g) for g in members}
        page.figure(figures.learning_curves(curves, members[0].cost_limit, task), f"learning_{task}",
                    f"{task}: episodic return and cost per epoch (training episodes), mean and standard error "
                    "over seeds; dashed: cost limit")

    page.text("## Return against cost", "Last training epoch. Centre: seed mean; ellipse radii: standard errors in "
              "x and y. Cost rate = total cost / env steps; total cost = cost summed over all training steps.")
    pareto = pd.DataFrame([aggregate.pareto_row(g) for g in groups])
    pareto.to_csv(out / "pareto.csv", index=False)
    for task, members in tasks.items():
        page.figure(figures.pareto(pareto[pareto["task"] == task].reset_index(drop=True), task), f"pareto_{task}",
                    f"{task}: last-epoch return against cost rate and total cost")
    page.text(_markdown(pareto))

    _differences(page, groups, against)
    _diagnostics(page, groups)

    page.text("## Episodic-cost distributions")
    evaluated = False
    for task, members in tasks.items():
        costs = {g.label: c for g in members if (c := aggregate.pooled_costs(g)) is not None}
        if not costs:
            continue
        evaluated = True
        page.figure(figures.cost_distributions(costs, members[0].cost_limit, task), f"costs_{task}",
                    f"{task}: evaluation episodes' cost (seeds pooled) with the 90/95/99th percentiles")
        table = pd.DataFrame([{"group": label, "episodes": c.size, "mean": c.mean(),
                               **{f"p{q}": v for q, v in aggregate.cost_percentiles(c).items()},
                               "violation rate": float((c > members[0].cost_limit).mean())}
                              for label, c in costs.items()])
        page.text(_markdown(table))
    if not evaluated:
        page.text("No run holds an evaluation.csv: run `shapo-rl evaluate` on the runs for these distributions.")

    page.text("## Random-action attack")
    attacked = False
    for task, members in tasks.items():
        curves = {g.label: c for g in members if (c := aggregate.attack_curve(g)) is not None}
        if curves:
            attacked = True
            page.figure(figures.attack_curves(curves, f"{task}: random-action attack"), f"attack_{task}",
                        f"{task}: return and cost against the attack rate; per seed the mean over its episodes, "
                        "then mean and standard error over seeds")
    if not attacked:
        page.text("No run holds an attack.csv: run `shapo-rl attack` on the runs for these curves.")

    page.text("## Runtime", "Collection speed = env steps / (wall time - update time); update = actor and "
              "critics; wall time = sum of epoch times. Means over seeds.")
    runtime = pd.DataFrame([aggregate.runtime_row(g) for g in groups])
    runtime.to_csv(out / "runtime.csv", index=False)
    page.text(_markdown(runtime))

    _aggregates(page, groups)
    report = out / "report.md"
    report.write_text("\n".join(page.lines))
    return report


def _differences(page: _Page, groups: list[Group], against: str | None) -> None:
    table = differences.difference_table(groups, against)
    reference = f"the vanilla {against} runs of its task" if against else "the vanilla runs of its task and algorithm"
    page.text(f"## Against {against or 'vanilla'}",
              f"Each group against {reference}: difference of seed means (group - reference) of the last "
              "epoch's total training cost, return and episodic cost, and the ratio of total costs, with "
              f"percentile bootstrap {differences.LEVEL:.0%} intervals ({differences.REPS:,} resamples of each "
              "group's seeds, drawn independently).")
    path = page.out / "differences.csv"
    if table.empty:
        path.unlink(missing_ok=True)  # a table from an earlier report in this folder would no longer hold
        page.text("No group has a reference group in these runs.")
        return
    table.to_csv(path, index=False)
    page.text(_markdown(table))


DIAGNOSTIC_CURVES = (("lagrange_multiplier", "multiplier"), ("shapo_cosine", "cosine"), ("shapo_kl", "kl"),
                     ("shapo_fallback", "fallback"))
DIAGNOSTIC_PANELS = (("multiplier", "Lagrange multiplier", "linear"), ("cosine", "cos(g, g_shapo)", "linear"),
                     ("kl", "perturbation KL reached", "log"), ("fallback", "perturbation fallbacks", "linear"))


def _diagnostics(page: _Page, groups: list[Group]) -> None:
    """Per group, over seeds: the last Lagrange multiplier, the largest KL of an epoch, the share
    of accepted trust-region steps and SHAPO's cos(g, g_shapo), where the runs log them."""
    rows = []
    for g in groups:
        metrics = pd.concat([run.metrics for run in g.runs], ignore_index=True)
        last = [run.metrics.iloc[-1] for run in g.runs]
        row = {"group": f"{g.task} {g.label}",
               "multiplier (last, mean)": float(np.mean([m.get("lagrange_multiplier", np.nan) for m in last])),
               "max KL": float(metrics["kl"].max()) if "kl" in metrics else float("nan")}
        if "trust_region_accepted" in metrics:
            row["accepted steps"] = float(metrics["trust_region_accepted"].mean())
        for column in ("shapo_cosine", "shapo_cost_cosine"):
            if column in metrics and metrics[column].notna().any():
                row[f"{column} mean"], row[f"{column} min"] = float(metrics[column].mean()), float(metrics[column].min())
        for column, name in (("shapo_kl", "perturbation KL mean"), ("shapo_fallback", "perturbation fallbacks")):
            if column in metrics and metrics[column].notna().any():
                row[name] = float(metrics[column].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(page.out / "diagnostics.csv", index=False)
    page.text("## Diagnostics", "Over all epochs of all seeds, unless marked last: what to look at before trusting "
              "a curve (a multiplier stuck at a bound, a KL above the trust region, SHAPO's gradient cosine, "
              "the KL its perturbation reached, the share of perturbations where no backtrack fitted its KL ball).",
              "", _markdown(table))
    for task, members in _by_task(groups).items():
        curves = {g.label: aggregate.learning_curve(g, DIAGNOSTIC_CURVES) for g in members}
        if any("cosine_mean" in curve for curve in curves.values()):
            page.figure(figures.metric_curves(curves, DIAGNOSTIC_PANELS, task), f"diagnostics_{task}",
                        f"{task}: the multiplier and SHAPO's diagnostics per epoch, mean and standard error over "
                        "seeds (cos(g, g_shapo); the KL of the perturbation reached; the share of its fallbacks)")


def _aggregates(page: _Page, groups: list[Group]) -> None:
    page.text("## Across tasks (rliable)", scores.__doc__.split("\n\n", 1)[1].replace("\n", " "))
    result = scores.normalized_scores(groups)
    if result.notes:
        page.text(*(f"- {note}" for note in result.notes))
    if not result.returns:
        page.text("No algorithm has runs on every task: no aggregate.")
        return
    iqm_return, iqm_cost = scores.iqm_intervals(result.returns), scores.iqm_intervals(result.costs)
    table = pd.DataFrame([{"algorithm": label, "runs x tasks": "x".join(map(str, result.returns[label].shape)),
                           "IQM return score": iqm_return[label][0],
                           "95% CI": f"[{iqm_return[label][1]:.3g}, {iqm_return[label][2]:.3g}]",
                           "IQM cost / limit": iqm_cost[label][0],
                           "95% CI ": f"[{iqm_cost[label][1]:.3g}, {iqm_cost[label][2]:.3g}]"}
                          for label in result.returns])
    page.text(f"Tasks: {', '.join(result.tasks)}.", "", _markdown(table))
    profile, bands = scores.profiles(result.returns)
    page.figure(figures.performance_profiles(profile, bands, scores.TAUS, r"normalised return score $\tau$"),
                "profile_return", "performance profile of the normalised return score, 95% stratified-bootstrap band")
