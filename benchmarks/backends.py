"""The fast and the stock env backend train the same run: same seed, same metrics, same weights.

For each task, ``shapo-rl train`` runs twice with one seed, once with ``--set env_backend=stock``
and once with the default fast backend; the script compares every metrics.csv column except the
timing ones, row by row, and the final actor, critic and normaliser tensors, and prints both runs'
speed. Exit code 1 if any task differs.

    python benchmarks/backends.py --steps 200000                      # PointGoal1 and Hopper
    python benchmarks/backends.py --tasks Walker2d-v4 --steps 40000 --algo ppo-lag
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}
ROOT = Path(__file__).resolve().parent.parent


def train(task: str, algo: str, steps: int, steps_per_epoch: int, seed: int, backend: str, out: Path) -> None:
    command = [sys.executable, "-m", "cli.app", "train", "--algo", algo, "--env", task, "--steps", str(steps),
               "--steps-per-epoch", str(steps_per_epoch), "--seed", str(seed), "--out", str(out), "--no-progress",
               "--set", f"env_backend={backend}"]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training {task} with the {backend} backend failed: {done.stderr.strip()[-500:]}")


def metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")["state_dict"]
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def compare(stock: Path, fast: Path) -> list[str]:
    """Every difference between the two runs but their timing columns, one line each."""
    differences = []
    a, b = metrics(stock), metrics(fast)
    if len(a) != len(b):
        differences.append(f"{len(a)} epochs against {len(b)}")
    for row_a, row_b in zip(a, b):
        for key in row_a.keys() - TIMING:
            if row_a[key] != row_b.get(key):
                differences.append(f"epoch {row_a['epoch']} {key}: {row_a[key]} against {row_b.get(key)}")
    ta, tb = final_tensors(stock), final_tensors(fast)
    differences += [f"tensor {k} differs" for k in sorted(ta) if k not in tb or not torch.equal(ta[k], tb[k])]
    return differences


def steps_per_second(run: Path) -> float:
    rows = metrics(run)
    return float(rows[-1]["env_steps"]) / sum(float(r["epoch_seconds"]) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["SafetyPointGoal1-v0", "SafetyHopperVelocity-v1"])
    parser.add_argument("--algo", default="trpo-lag")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    failed = False
    for task in args.tasks:
        with tempfile.TemporaryDirectory(prefix="shapo-backends-") as tmp:
            runs = {backend: Path(tmp) / backend for backend in ("stock", "fast")}
            for backend, out in runs.items():
                train(task, args.algo, args.steps, args.steps_per_epoch, args.seed, backend, out)
            differences = compare(runs["stock"], runs["fast"])
            speeds = {backend: steps_per_second(out) for backend, out in runs.items()}
            last = metrics(runs["fast"])[-1]
        verdict = "identical" if not differences else f"{len(differences)} differences"
        print(f"{task} ({args.algo}, {args.steps} steps, seed {args.seed}): {verdict}; "
              f"stock {speeds['stock']:.0f} steps/s, fast {speeds['fast']:.0f} ({speeds['fast'] / speeds['stock']:.2f}x); "
              f"last epoch return {float(last['ep_return']):.2f}, cost {float(last['ep_cost']):.2f}", flush=True)
        for line in differences[:10]:
            print(f"  {line}")
        failed |= bool(differences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
