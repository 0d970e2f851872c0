"""Numbers behind the report's figures and tables, one group (the seeds of a task, algorithm and
variant) at a time: seed means and standard errors (ALGORITHMS.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shapo_rl.evaluation.statistics import PERCENTILES, standard_error
from shapo_rl.reporting.runs import Group

# metrics.csv columns -> the names used in figures and tables
LAST_EPOCH = {"ep_return": "return", "ep_cost": "cost", "cost_rate": "cost_rate", "total_cost": "total_cost"}


def _mean_sem(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return (float(values.mean()), standard_error(values)) if values.size else (float("nan"), float("nan"))


def learning_curve(group: Group, columns: tuple[tuple[str, str], ...] = (("ep_return", "return"),
                                                                       ("ep_cost", "cost"))) -> pd.DataFrame:
    """Per env step present in every seed: mean and standard error over seeds of each metrics
    column (``(column, name)`` pairs; by default the epoch's episodic return and cost), as
    columns ``env_steps``, ``{name}_mean``, ``{name}_sem``. A column some seed lacks is left out."""
    columns = tuple((c, n) for c, n in columns if all(c in run.metrics for run in group.runs))
    frames = [run.metrics.set_index("env_steps")[[c for c, _ in columns]] for run in group.runs]
    steps = sorted(set.intersection(*(set(f.index) for f in frames)))
    rows = []
    for step in steps:
        row = {"env_steps": step}
        for column, name in columns:
            row[f"{name}_mean"], row[f"{name}_sem"] = _mean_sem([f.loc[step, column] for f in frames])
        rows.append(row)
    return pd.DataFrame(rows)


def last_epoch(group: Group) -> pd.DataFrame:
    """One row per seed: the last epoch's return, cost, cost rate and total cost."""
    rows = [{"seed": run.seed, **{name: float(run.metrics[column].iloc[-1]) for column, name in LAST_EPOCH.items()}}
            for run in group.runs]
    return pd.DataFrame(rows)


def pareto_row(group: Group) -> dict:
    """Seed mean and standard error of each last-epoch quantity: the centre and the radii of the
    group's ellipse in the Pareto plots."""
    seeds = last_epoch(group)
    row = {"task": group.task, "algo": group.algo, "variant": group.variant, "seeds": len(seeds)}
    for name in LAST_EPOCH.values():
        row[f"{name}_mean"], row[f"{name}_sem"] = _mean_sem(seeds[name])
    return row


def pooled_costs(group: Group) -> np.ndarray | None:
    """Every evaluation episode's cost of the group's seeds (None when none was evaluated)."""
    parts = [run.evaluation["cost"].to_numpy(dtype=np.float64) for run in group.runs if run.evaluation is not None]
    return np.concatenate(parts) if parts else None


def cost_percentiles(costs: np.ndarray) -> dict[int, float]:
    return {q: float(np.percentile(costs, q)) for q in PERCENTILES}


def attack_curve(group: Group) -> pd.DataFrame | None:
    """Per seed and alpha, the mean return and cost of its attack episodes (None without any
    attack.csv); the figure then shows mean and standard error over seeds."""
    parts = [run.attack.groupby("alpha")[["return", "cost"]].mean().reset_index().assign(seed=run.seed)
             for run in group.runs if run.attack is not None]
    return pd.concat(parts, ignore_index=True) if parts else None


def runtime_row(group: Group) -> dict:
    """Seed means of collection speed (env steps per second outside the updates), update time
    per epoch (actor plus critics) and wall time (sum of epoch times)."""
    speeds, updates, walls = [], [], []
    for run in group.runs:
        m = run.metrics
        update = m.get("actor_seconds", np.nan) + m.get("critic_seconds", np.nan)
        wall = float(m["epoch_seconds"].sum()) if "epoch_seconds" in m else float("nan")
        collect = wall - float(np.sum(update))
        speeds.append(float(m["env_steps"].iloc[-1]) / collect if collect > 0 else float("nan"))
        updates.append(float(np.mean(update)))
        walls.append(wall)
    return {"task": group.task, "algo": group.algo, "variant": group.variant, "seeds": len(group.runs),
            "env_steps_per_s": float(np.mean(speeds)), "update_s_per_epoch": float(np.mean(updates)),
            "wall_s": float(np.mean(walls))}
