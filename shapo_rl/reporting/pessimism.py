"""SHAPO paper Fig. 10 (App. F): how each pessimism schedule evolves with the samples collected.

By Prop. 2, a radius delta after N samples means the percentile p = Phi(-sqrt(2 N delta)), and a
fixed percentile p means the radius delta = z_p^2 / (2 N). A constant delta thus grows more
pessimistic as N grows, while a fixed p shrinks its radius towards 0.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from shapo_rl.optim.pessimism import PercentileRadius, implied_percentile
from shapo_rl.reporting.figures import save_figure


def pessimism_figure(out: Path, deltas=(1e-6, 1e-5, 1e-4), percentiles=(0.01, 0.05, 0.2)) -> list[Path]:
    """Draw the implied percentile of each constant delta and the radius of each fixed p against N."""
    samples = np.unique(np.logspace(3, 7, 60).astype(int))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for delta in deltas:
        left.plot(samples, [implied_percentile(delta, int(n)) for n in samples], label=f"delta = {delta:g}")
    for p in percentiles:
        right.loglog(samples, [PercentileRadius(p).radius(0, int(n)) for n in samples], label=f"p = {p:g}")
    left.set(xscale="log", xlabel="samples N", ylabel="implied percentile p", title="constant delta")
    right.set(xlabel="samples N", ylabel="radius delta", title="fixed percentile p")
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return save_figure(fig, out / "pessimism_schedule")
