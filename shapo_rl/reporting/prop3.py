"""SHAPO paper Fig. 2 from Prop. 3: the standard and the SHAPO gradient norms against the action
magnitude, for a positive and a negative advantage.

One state, policy N(theta, I), theta_k = 0, one action a with advantage A and utility
U(theta) = A pi_theta(a) / pi_0(a). The standard gradient is A a. The Fisher is I, so SHAPO's
pessimistic neighbour in the KL ball of radius delta is -sqrt(2 delta) s a / ||a|| (s = sign A)
and its gradient is A exp(-s sqrt(2 delta) ||a|| - delta) (1 + s sqrt(2 delta) / ||a||) a:
larger than the standard one for rare (large ||a||) actions with A < 0, smaller with A > 0.
The figure draws the closed form as lines and the library's own SHAPO gradient
(:func:`~shapo_rl.optim.sharpness_aware_gradient`) as markers.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch.distributions import Normal, kl_divergence

from shapo_rl.optim import sharpness_aware_gradient
from shapo_rl.reporting.figures import save_figure

DELTA = 0.01
ADVANTAGES = (1.0, -1.0)


def closed_form_norms(action_norm: float, advantage: float, delta: float = DELTA) -> tuple[float, float]:
    """(||grad U(0)||, ||grad U(theta~)||) of Prop. 3."""
    s, root = math.copysign(1.0, advantage), math.sqrt(2 * delta)
    factor = math.exp(-s * root * action_norm - delta) * (1 + s * root / action_norm)
    return abs(advantage) * action_norm, abs(advantage * factor) * action_norm


def library_norms(action_norm: float, advantage: float, delta: float = DELTA, dim: int = 2) -> tuple[float, float]:
    """The same two norms from the library's SHAPO gradient (Fisher geometry, float64)."""
    a = torch.full((dim,), action_norm / math.sqrt(dim), dtype=torch.float64)
    theta = torch.zeros(dim, dtype=torch.float64, requires_grad=True)
    zeros = torch.zeros(dim, dtype=torch.float64)

    def loss() -> torch.Tensor:
        log_ratio = Normal(theta, 1.0).log_prob(a).sum() - Normal(zeros, 1.0).log_prob(a).sum()
        return -advantage * log_ratio.exp()

    g, g_shapo, _ = sharpness_aware_gradient(
        loss, [theta], geometry="fisher", radius=delta, damping=0.0,
        kl_fn=lambda: kl_divergence(Normal(zeros, 1.0), Normal(theta, 1.0)).sum())
    return float(g.norm()), float(g_shapo.norm())


def gradient_geometry_figure(out: Path) -> list[Path]:
    """Write gradient_geometry.csv (both sources) and the figure to ``out``; return the files."""
    rows = []
    for advantage in ADVANTAGES:
        for norm in np.linspace(0.1, 3.0, 30):
            closed, library = closed_form_norms(float(norm), advantage), library_norms(float(norm), advantage)
            rows.append({"advantage": advantage, "action_norm": float(norm), "standard": closed[0],
                         "shapo": closed[1], "standard_library": library[0], "shapo_library": library[1]})
    table = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "gradient_geometry.csv", index=False)
    fig, axes = plt.subplots(1, len(ADVANTAGES), figsize=(9, 3.5), sharey=True)
    for ax, advantage in zip(axes, ADVANTAGES):
        part = table[table["advantage"] == advantage]
        for column, color in (("standard", "tab:grey"), ("shapo", "tab:blue")):
            ax.plot(part["action_norm"], part[column], color=color, label=f"{column} (Prop. 3)")
            ax.plot(part["action_norm"], part[f"{column}_library"], "o", color=color, markersize=3,
                    label=f"{column} (library)")
        ax.set(title=f"A = {advantage:+g}, delta = {DELTA:g}", xlabel="||a||")
    axes[0].set_ylabel("gradient norm")
    axes[0].legend(fontsize=8)
    return [out / "gradient_geometry.csv", *save_figure(fig, out / "gradient_geometry")]
