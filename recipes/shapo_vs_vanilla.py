"""SHAPO (Fisher perturbation + critic SAM) against vanilla TRPO-Lag, several tasks and seeds.

Runs every (task, variant, seed) through ``shapo-rl train``, ``--jobs`` at a time, then reports
per task and variant the mean and standard error over seeds of the last epoch's episodic return
and cost, the total cost over training and the cost rate (total cost / steps), as a Markdown
table and ``summary.csv`` in the output folder.

    python -m recipes.shapo_vs_vanilla --steps 100000 --seeds 0 1 2 --out runs/shapo_vs_vanilla
    python -m recipes.shapo_vs_vanilla --steps 200000 --radii 1e-5 1e-3   # + a radius ablation

Runs already finished in the output folder are reused, so adding a radius reruns only its runs.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from shapo_rl.launch import last_epoch_summary, markdown_table, run_grid

METRICS = ("ep_return", "ep_cost", "total_cost", "cost_rate")


def variants(radii: list[float]) -> dict[str, list[str]]:
    """vanilla, and SHAPO (Fisher, radius r) + critic SAM (rho 0.05) for each radius r; the
    authors' radius 1e-5 is named plain ``shapo``."""
    named = {"vanilla": []}
    for radius in radii:
        name = "shapo" if radius == 1e-5 else f"shapo-r{radius:g}"
        named[name] = ["--shapo", "fisher", "--shapo-radius", str(radius), "--critic-sam", "--critic-sam-rho", "0.05"]
    return named


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

    common = ["--algo", "trpo-lag", "--steps", str(args.steps), "--steps-per-epoch", str(args.steps_per_epoch)]
    if args.num_envs is not None:
        common += ["--num-envs", str(args.num_envs)]
    named = variants(args.radii)
    grid = {f"{env}-{variant}-seed{seed}": [*common, "--env", env, "--seed", str(seed), *flags]
            for env in args.envs for variant, flags in named.items() for seed in args.seeds}
    runs = run_grid(grid, args.out, jobs=args.jobs, force=args.force)
    groups = {f"{env} {variant}": [runs[f"{env}-{variant}-seed{seed}"] for seed in args.seeds]
              for env in args.envs for variant in named}
    rows = last_epoch_summary(groups, METRICS)
    with (args.out / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(markdown_table(rows, METRICS))


if __name__ == "__main__":
    main()
