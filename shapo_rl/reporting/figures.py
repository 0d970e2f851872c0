"""Matplotlib figures of the papers (ALGORITHMS.md section 5), drawn headless (Agg) and saved as
PNG and PDF: learning curves with standard-error bands, Pareto plots with standard-error
ellipses, episodic-cost distributions with percentile marks, attack curves, performance
profiles."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from shapo_rl.evaluation.statistics import standard_error  # noqa: E402

PERCENTILE_STYLES = {90: ":", 95: "--", 99: "-."}


def save_figure(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``; close the figure. The PDF carries no creation date,
    so a figure redrawn from the same data is the same file."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(fig)
    return paths


def _colors(n: int) -> list:
    """n distinct colours: tab10 up to 10 groups, tab20 up to 20, then evenly spaced hues."""
    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    if n <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(n)]
    return [plt.get_cmap("hsv")(i / n) for i in range(n)]


def learning_curves(curves: dict[str, pd.DataFrame], cost_limit: float, title: str) -> Figure:
    """Return and episodic cost against env steps, one line per group with its standard-error
    band; the cost limit as a dashed line."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (label, curve), color in zip(curves.items(), _colors(len(curves))):
        for ax, name in zip(axes, ("return", "cost")):
            mean, sem = curve[f"{name}_mean"], curve[f"{name}_sem"]
            ax.plot(curve["env_steps"], mean, color=color, label=label)
            ax.fill_between(curve["env_steps"], mean - sem, mean + sem, color=color, alpha=0.2)
    axes[1].axhline(cost_limit, color="black", linestyle="--", linewidth=1, label=f"cost limit {cost_limit:g}")
    for ax, name in zip(axes, ("episodic return", "episodic cost")):
        ax.set_xlabel("env steps")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def metric_curves(curves: dict[str, pd.DataFrame], panels: tuple[tuple[str, str, str], ...], title: str) -> Figure:
    """One panel per ``(name, y label, y scale)``: each group's ``{name}_mean`` against env steps
    with its standard-error band, where the group has that curve."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for (label, curve), color in zip(curves.items(), _colors(len(curves))):
        for ax, (name, _, _) in zip(axes[0], panels):
            if f"{name}_mean" in curve:
                mean, sem = curve[f"{name}_mean"], curve[f"{name}_sem"]
                ax.plot(curve["env_steps"], mean, color=color, label=label)
                ax.fill_between(curve["env_steps"], mean - sem, mean + sem, color=color, alpha=0.2)
    for ax, (_, ylabel, yscale) in zip(axes[0], panels):
        ax.set_xlabel("env steps")
        ax.set_ylabel(ylabel)
        ax.set_yscale(yscale)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def ellipse(row: dict | pd.Series, x: str, y: str, **style) -> Ellipse:
    """The standard-error ellipse of one group: centre (x mean, y mean), radii (x sem, y sem)."""
    return Ellipse((row[f"{x}_mean"], row[f"{y}_mean"]), width=2 * row[f"{x}_sem"], height=2 * row[f"{y}_sem"],
                   **style)


def pareto(table: pd.DataFrame, title: str) -> Figure:
    """Last-epoch return against cost rate (left) and total cost (right): per group a marker at
    the seed mean and an ellipse whose radii are the standard errors in x and y."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, x, xlabel in zip(axes, ("cost_rate", "total_cost"), ("cost rate (total cost / env steps)",
                                                                  "total cost (cumulative)")):
        for (_, row), color in zip(table.iterrows(), _colors(len(table))):
            ax.add_patch(ellipse(row, x, "return", facecolor=color, alpha=0.25, edgecolor=color))
            ax.plot(row[f"{x}_mean"], row["return_mean"], "o", color=color,
                    label=f"{row['algo']} {row['variant']} ({row['seeds']} seeds)")
        ax.autoscale_view()
        ax.set_xlabel(xlabel)
        ax.set_ylabel("last-epoch episodic return")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def cost_distributions(costs: dict[str, np.ndarray], cost_limit: float, title: str) -> Figure:
    """Histogram of episodic costs per group, with its 90/95/99th percentiles and the cost limit."""
    fig, axes = plt.subplots(len(costs), 1, figsize=(7, 2.4 * len(costs)), sharex=True, squeeze=False)
    for ax, (label, values), color in zip(axes[:, 0], costs.items(), _colors(len(costs))):
        ax.hist(values, bins=30, color=color, alpha=0.6)
        for q, style in PERCENTILE_STYLES.items():
            ax.axvline(np.percentile(values, q), color="black", linestyle=style, linewidth=1, label=f"p{q}")
        ax.axvline(cost_limit, color="red", linewidth=1, label=f"cost limit {cost_limit:g}")
        ax.set_title(f"{label} ({values.size} episodes)", fontsize=9)
        ax.set_ylabel("episodes")
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xlabel("episodic cost")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def attack_curves(curves: dict[str, pd.DataFrame], title: str = "random-action attack") -> Figure:
    """Return and cost against the attack rate alpha, one line per entry: the mean of its rows at
    each alpha with a standard-error band (rows are episodes of a checkpoint, or seed means)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (label, frame), color in zip(curves.items(), _colors(len(curves))):
        alphas = sorted(frame["alpha"].unique())
        for ax, name in zip(axes, ("return", "cost")):
            values = [frame.loc[frame["alpha"] == a, name].to_numpy() for a in alphas]
            mean = np.array([v.mean() for v in values])
            sem = np.array([standard_error(v) for v in values])
            ax.plot(alphas, mean, "o-", color=color, label=label)
            ax.fill_between(alphas, mean - sem, mean + sem, color=color, alpha=0.2)
    for ax, name in zip(axes, ("episodic return", "episodic cost")):
        ax.set_xlabel("attack rate alpha")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def performance_profiles(profiles: dict[str, np.ndarray], intervals: dict[str, np.ndarray], taus: np.ndarray,
                         xlabel: str) -> Figure:
    """Fraction of runs scoring above tau, with its bootstrap confidence band, per algorithm."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, profile), color in zip(profiles.items(), _colors(len(profiles))):
        ax.plot(taus, profile, color=color, label=label)
        ax.fill_between(taus, intervals[label][0], intervals[label][1], color=color, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
