"""Each group against a reference group of its task: the seed-mean difference of a last-epoch
quantity (total training cost, final return, final episodic cost) and the ratio of total costs,
each with a bootstrap 95% interval.

The reference of a group is, by default, the ``vanilla`` group of its task and algorithm (SHAPO
variants against the base algorithm); with ``against=ALGO``, the vanilla group of ``ALGO`` on
its task (sTRPO and the baselines against CPO). Seeds are independent runs, so each resample
draws the treated and the reference seeds independently, with replacement; the interval is the
percentile interval of the resampled statistic (Efron and Tibshirani 1993, ch. 13). With 5
seeds per group it is wide, and it is meant to be: an interval that contains 0 (or 1, for the
ratio) says this budget cannot tell the two apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shapo_rl.reporting.aggregate import last_epoch
from shapo_rl.reporting.runs import Group, variant_label

REPS = 10_000
LEVEL = 0.95
DIFFERENCES = {"total_cost": "total cost", "return": "final return", "cost": "final cost"}


def _resampled_means(values: np.ndarray, rng: np.random.Generator, reps: int) -> np.ndarray:
    return rng.choice(values, size=(reps, values.size), replace=True).mean(axis=1)


def bootstrap_contrast(treated, reference, ratio: bool = False, reps: int = REPS, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): mean(treated) - mean(reference), or their quotient when ``ratio``,
    with the percentile interval at ``level`` over ``reps`` independent resamples of each group."""
    treated, reference = (np.asarray(v, dtype=np.float64) for v in (treated, reference))
    if treated.size == 0 or reference.size == 0:
        raise ValueError("bootstrap_contrast needs at least one value in each group")
    rng = np.random.default_rng(seed)
    t, r = _resampled_means(treated, rng, reps), _resampled_means(reference, rng, reps)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = treated.mean() / reference.mean() if ratio else treated.mean() - reference.mean()
        resampled = t / r if ratio else t - r
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.nanpercentile(resampled, [tail, 100.0 - tail]) if np.isfinite(resampled).any() else (np.nan,) * 2
    return float(statistic), float(low), float(high)


def is_vanilla(group: Group) -> bool:
    """No SHAPO perturbation and no critic SAM, and no free variant name other than ``vanilla``
    (a recipe names its base arm ``vanilla``)."""
    config = group.runs[0].config
    return variant_label({**config, "variant": None}) == "vanilla" and config.get("variant") in (None, "", "vanilla")


def reference_group(group: Group, groups: list[Group], against: str | None = None) -> Group | None:
    """The vanilla group of ``against`` (default: the group's own algorithm) on the group's task;
    None when there is none or it is the group itself."""
    algo = against or group.algo
    matches = [g for g in groups if g.task == group.task and g.algo == algo and is_vanilla(g)]
    return matches[0] if matches and matches[0] is not group else None


def difference_table(groups: list[Group], against: str | None = None) -> pd.DataFrame:
    """One row per group that has a reference: seeds of both, each difference with its interval,
    and the total-cost ratio with its interval (empty when no group has a reference)."""
    rows = []
    for group in groups:
        reference = reference_group(group, groups, against)
        if reference is None:
            continue
        treated, base = last_epoch(group), last_epoch(reference)
        row = {"task": group.task, "group": group.label, "reference": reference.label,
               "seeds": f"{len(treated)} vs {len(base)}"}
        for column, name in DIFFERENCES.items():
            value, low, high = bootstrap_contrast(treated[column], base[column])
            row[f"{name} difference"], row[f"{name} 95% CI"] = value, f"[{low:.4g}, {high:.4g}]"
        value, low, high = bootstrap_contrast(treated["total_cost"], base["total_cost"], ratio=True)
        row["total cost ratio"], row["total cost ratio 95% CI"] = value, f"[{low:.3g}, {high:.3g}]"
        rows.append(row)
    return pd.DataFrame(rows)
