"""Summary statistics of evaluation episodes (ALGORITHMS.md section 5): mean, standard deviation
and standard error of return and cost, episodic-cost percentiles (90/95/99) and violation rate."""

from __future__ import annotations

import numpy as np

PERCENTILES = (90, 95, 99)


def standard_error(values) -> float:
    """Standard error of the mean, ``std(ddof=1) / sqrt(n)``; 0 for fewer than two values."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0


def describe(values) -> dict[str, float]:
    """``mean``, ``std`` (ddof=1) and ``sem`` of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "std": std, "sem": standard_error(values)}


def episode_summary(returns, costs, lengths, cost_limit: float) -> dict[str, float]:
    """One flat row: episodes, return/cost/length statistics, cost percentiles (numpy's linear
    interpolation) and the fraction of episodes whose cost exceeds ``cost_limit``."""
    costs = np.asarray(costs, dtype=np.float64)
    row: dict[str, float] = {"episodes": int(costs.size)}
    for name, values in (("return", returns), ("cost", costs), ("length", lengths)):
        row.update({f"{name}_{k}": v for k, v in describe(values).items()})
    row.update({f"cost_p{q}": float(np.percentile(costs, q)) for q in PERCENTILES})
    row["violation_rate"] = float((costs > cost_limit).mean())
    return row
