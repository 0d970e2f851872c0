"""Perturbation-radius schedules and the pessimism level they imply (Section 6.1, Appendix F).

By Prop. 2 of the SHAPO paper, a KL radius delta with N samples corresponds to evaluating the
policy at the p-th percentile of its estimation error, with delta = z_p^2 / (2 N) and
z_p = Phi^-1(p) the standard-normal quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

ScheduleName = Literal["constant", "percentile", "decay"]


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _normal_quantile(p: float) -> float:
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def _check_radius(radius: float) -> None:
    if not radius >= 0:
        raise ValueError(f"radius must be non-negative, got {radius}")


def _check_samples(n_samples: int) -> None:
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")


def implied_percentile(radius: float, n_samples: int) -> float:
    """Pessimism level of a fixed radius after N samples: p = Phi(-sqrt(2 N delta)) (Prop. 2)."""
    _check_radius(radius)
    _check_samples(n_samples)
    return _normal_cdf(-math.sqrt(2.0 * n_samples * radius))


class RadiusSchedule(Protocol):
    def radius(self, update_index: int, n_samples: int) -> float:
        """Radius for update ``update_index`` (0-based) after ``n_samples`` state-action pairs."""
        ...


@dataclass(frozen=True)
class ConstantRadius:
    """Fixed delta (the paper's default); its implied percentile grows extreme as N grows."""

    delta: float

    def __post_init__(self) -> None:
        _check_radius(self.delta)

    def radius(self, update_index: int, n_samples: int) -> float:
        return self.delta


@dataclass(frozen=True)
class PercentileRadius:
    """Fixed pessimism level p in (0, 0.5]: delta_t = z_p^2 / (2 N_t) (Prop. 2)."""

    percentile: float

    def __post_init__(self) -> None:
        if not 0 < self.percentile <= 0.5:
            raise ValueError(f"percentile must lie in (0, 0.5], got {self.percentile}")

    def radius(self, update_index: int, n_samples: int) -> float:
        _check_samples(n_samples)
        return _normal_quantile(self.percentile) ** 2 / (2.0 * n_samples)


@dataclass(frozen=True)
class DecayRadius:
    """Inverse-square-root decay delta_t = delta_0 / sqrt(t + 1), t the update index."""

    delta0: float

    def __post_init__(self) -> None:
        _check_radius(self.delta0)

    def radius(self, update_index: int, n_samples: int) -> float:
        if update_index < 0:
            raise ValueError(f"update_index must be non-negative, got {update_index}")
        return self.delta0 / math.sqrt(update_index + 1)


def make_schedule(name: ScheduleName, radius: float, percentile: float) -> RadiusSchedule:
    """Build the named schedule; ``radius`` is delta (or delta_0), ``percentile`` is p."""
    if name == "constant":
        return ConstantRadius(radius)
    if name == "percentile":
        return PercentileRadius(percentile)
    if name == "decay":
        return DecayRadius(radius)
    raise ValueError(f"unknown schedule {name!r}; expected 'constant', 'percentile' or 'decay'")
