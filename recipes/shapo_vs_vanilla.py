"""SHAPO (Fisher perturbation + critic SAM) against vanilla TRPO-Lag, several tasks and seeds.

Runs every (task, variant, seed) through the ``shapo-rl train`` command, ``--jobs`` at a time,
then reports per task and variant the mean and standard error over seeds of the last epoch's
episodic return and cost, the total cost over training and the cost rate (total cost / steps),
as a Markdown table and ``summary.csv`` in the output folder.

    python -m recipes.shapo_vs_vanilla --steps 100000 --seeds 0 1 2 --out runs/shapo_vs_vanilla
    python -m recipes.shapo_vs_vanilla --steps 200000 --radii 1e-5 1e-3   # + a radius ablation

Runs already finished in the output folder are reused, so adding a radius reruns only its runs.
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

def variants(radii: list[float]) -> dict[str, list[str]]:
    """vanilla, and SHAPO (Fisher, radius r) + critic SAM (rho 0.05) for each radius r; the
    authors' radius 1e-5 is named plain ``shapo``."""
    named = {"vanilla": []}
    for radius in radii:
        name = "shapo" if radius == 1e-5 else f"shapo-r{radius:g}"
        named[name] = ["--shapo", "fisher", "--shapo-radius", str(radius), "--critic-sam", "--critic-sam-rho", "0.05"]
    return named
METRICS = ("ep_return", "ep_cost", "total_cost", "cost_rate")


def _run(out: Path, env: str, variant: str, seed: int, args: argparse.Namespace) -> Path:
    flags = variants(args.radii)[variant]
    run = out / f"{env}-{variant}-seed{seed}"
    if not args.force and _finished(run, args.steps):
        return run
    command = [sys.executable, "-m", "cli.app", "train", "--algo", "trpo-lag", "--env", env, "--steps", str(args.steps),
               "--steps-per-epoch", str(args.steps_per_epoch), "--seed", str(seed),
               "--out", str(run), "--force", "--no-progress", *flags]
    if args.num_envs is not None:
        command += ["--num-envs", str(args.num_envs)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return run


def _finished(run: Path, steps: int) -> bool:
    try:
        with (run / "metrics.csv").open() as f:
            return int(list(csv.DictReader(f))[-1]["env_steps"]) == steps
    except (OSError, IndexError, KeyError, ValueError):
        return False


def _last_row(run: Path) -> dict[str, float]:
    with (run / "metrics.csv").open() as f:
        row = list(csv.DictReader(f))[-1]
    return {k: float(row[k]) for k in METRICS}


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var / len(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="+", default=["SafetyHopperVelocity-v1", "Walker2d-v4"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--num-envs", type=int, default=None, help="default: the library's")
    parser.add_argument("--radii", nargs="+", type=float, default=[1e-5], help="SHAPO radii to compare")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--out", type=Path, default=Path("runs/shapo_vs_vanilla"))
    parser.add_argument("--force", action="store_true", help="rerun runs that already exist")
    args = parser.parse_args()

    names = list(variants(args.radii))
    grid = [(env, variant, seed) for env in args.envs for variant in names for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda job: _run(args.out, *job, args), grid))

    rows = []
    for env in args.envs:
        for variant in names:
            finals = [_last_row(run) for (e, v, _), run in zip(grid, runs) if (e, v) == (env, variant)]
            row = {"env": env, "variant": variant, "seeds": len(finals)}
            for metric in METRICS:
                row[metric], row[f"{metric}_se"] = _mean_se([f[metric] for f in finals])
            rows.append(row)
    with (args.out / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"| task | variant | seeds | {' | '.join(METRICS)} |")
    print("|---|---|---|" + "---|" * len(METRICS))
    for row in rows:
        cells = " | ".join(f"{row[m]:.4g} ± {row[m + '_se']:.2g}" for m in METRICS)
        print(f"| {row['env']} | {row['variant']} | {row['seeds']} | {cells} |")


if __name__ == "__main__":
    main()
