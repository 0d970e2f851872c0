"""Aggregates across tasks with rliable (Agarwal et al. 2021): interquartile mean with stratified
bootstrap confidence intervals, and performance profiles, because means over 3-5 seeds mislead.

Scores are made comparable across tasks before pooling: the last-epoch return min-max normalised
per task over the runs of the report (0 = the worst run of that task, 1 = the best), and the
last-epoch episodic cost divided by the task's cost limit (1 = at the limit). rliable's
stratified bootstrap needs as many runs per task for an algorithm: with unequal seed counts the
lowest seeds are kept, and an algorithm missing a task is left out; both are reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from shapo_rl.reporting.aggregate import last_epoch
from shapo_rl.reporting.runs import Group

BOOTSTRAP_REPS = 2000
TAUS = np.linspace(0.0, 1.0, 51)


@contextmanager
def _seeded_bootstrap(seed: int = 0) -> Iterator[None]:
    """rliable's stratified bootstrap draws its resamples from NumPy's global generator
    (``np.random.choice``) and ignores the ``random_state`` it passes on, so the intervals are
    reproducible only with that generator seeded: seeded here, and the caller's state restored.
    Also silences arch's FutureWarning about the RandomState rliable hands it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        np.random.set_state(state)


@dataclass
class Scores:
    tasks: list[str]
    returns: dict[str, np.ndarray] = field(default_factory=dict)  # algorithm -> [runs, tasks]
    costs: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def normalized_scores(groups: list[Group]) -> Scores:
    tasks = sorted({g.task for g in groups})
    finals = {id(g): last_epoch(g) for g in groups}
    bounds = {}
    for task in tasks:
        returns = np.concatenate([finals[id(g)]["return"].to_numpy() for g in groups if g.task == task])
        bounds[task] = (np.nanmin(returns), np.nanmax(returns))
    scores = Scores(tasks)
    for label in dict.fromkeys(g.label for g in groups):
        mine = {g.task: g for g in groups if g.label == label}
        if set(mine) != set(tasks):
            scores.notes.append(f"{label} is left out of the aggregates: it has no runs on "
                                f"{', '.join(sorted(set(tasks) - set(mine)))}")
            continue
        n = min(len(g.runs) for g in mine.values())
        if any(len(g.runs) != n for g in mine.values()):
            scores.notes.append(f"{label}: the {n} lowest seeds of each task enter the aggregates")
        ret, cost = np.empty((n, len(tasks))), np.empty((n, len(tasks)))
        for j, task in enumerate(tasks):
            final, (lo, hi) = finals[id(mine[task])].iloc[:n], bounds[task]
            ret[:, j] = (final["return"] - lo) / (hi - lo) if hi > lo else 1.0
            limit = mine[task].cost_limit
            cost[:, j] = final["cost"] / limit if limit > 0 else final["cost"]
        scores.returns[label], scores.costs[label] = ret, cost
    return scores


def iqm_intervals(score_dict: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """Per algorithm: IQM and the 95% stratified-bootstrap interval, as (iqm, low, high)."""
    from rliable import library, metrics

    with _seeded_bootstrap():
        points, intervals = library.get_interval_estimates(
            score_dict, lambda s: np.array([metrics.aggregate_iqm(s)]), reps=BOOTSTRAP_REPS,
            random_state=np.random.RandomState(0))
    return {k: (float(points[k][0]), float(intervals[k][0, 0]), float(intervals[k][1, 0])) for k in score_dict}


def profiles(score_dict: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Performance profiles over :data:`TAUS` (fraction of all runs and tasks scoring above tau,
    rliable's ``create_performance_profile``) and their 95% stratified-bootstrap bands, seeded."""
    from rliable import library

    with _seeded_bootstrap():
        return library.get_interval_estimates(score_dict, lambda s: library.score_distributions(s, TAUS),
                                              reps=BOOTSTRAP_REPS, random_state=np.random.RandomState(0))
