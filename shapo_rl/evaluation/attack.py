"""Random-action attack sweeps (ALGORITHMS.md section 5): the same checkpoint evaluated at each
attack rate alpha, with the same seed, so the rates differ only in the attack."""

from __future__ import annotations

import math

from shapo_rl.evaluation.episodes import run_episodes


class SweepError(ValueError):
    """An attack-rate specification that cannot be read."""


def parse_rates(text: str) -> list[float]:
    """``"start:stop:step"`` (stop included) or a comma list ``"0,0.5,1"`` -> rates in [0, 1]."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise SweepError(f"--rates {text}: need start <= stop and step > 0")
            count = math.floor((stop - start) / step + 1e-9) + 1
            rates = [round(start + i * step, 10) for i in range(count)]
        else:
            rates = [float(part) for part in text.split(",")]
    except ValueError as err:
        if isinstance(err, SweepError):
            raise
        raise SweepError(f"--rates {text}: expected start:stop:step or a comma list of numbers") from None
    if not rates or not all(0.0 <= r <= 1.0 for r in rates):
        raise SweepError(f"--rates {text}: attack rates must lie in [0, 1]")
    return rates


def attack_sweep(module, rates: list[float], *, episodes: int, seed: int, num_envs: int,
                 deterministic: bool = True) -> list[dict]:
    """One row per (alpha, episode): ``alpha``, ``episode``, ``return``, ``cost``, ``length``."""
    rows = []
    for alpha in rates:
        result = run_episodes(module, episodes=episodes, seed=seed, num_envs=num_envs, deterministic=deterministic,
                              attack_rate=alpha)
        for k, (ret, cost, length) in enumerate(zip(result.returns.tolist(), result.costs.tolist(),
                                                    result.lengths.tolist())):
            rows.append({"alpha": alpha, "episode": k, "return": ret, "cost": cost, "length": length})
    return rows
