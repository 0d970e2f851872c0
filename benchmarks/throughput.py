"""Throughput of the simulator, of our collection stack and of end-to-end TRPO-Lag training.

For each task, in one process:

* raw       -- ``safety_gymnasium.make`` alone, random actions, one core (the ceiling). This
               machine's speed drifts by +-20% within a minute (the same seeded 5,000 Hopper steps
               measured 2,680-3,860 steps/s in a row), so raw is measured before collection,
               between collection and training, and after training; the median is the ratio's
               denominator and the range is printed;
* collect   -- our env stack with the default batching, through the same rollout collector the
               training uses (``RolloutDataModule``), with a freshly initialised policy;
* train     -- ``shapo_rl.training.train`` of TRPO-Lag with defaults (20,000-step epochs),
               progress off: total env steps / wall time of ``train()``;
* ratio     -- train / raw;
* update s  -- mean actor + critic update seconds per training epoch (from its metrics.csv);
* peak memory (``ru_maxrss`` of this process and of its children), read after each task.

    python benchmarks/throughput.py                       # both tasks, 2 epochs of 20,000 steps
    python benchmarks/throughput.py --epochs 1 --steps-per-epoch 4000 --raw-steps 2000 \
        --collect-steps 4000 --tasks SafetyHopperVelocity-v1     # about a minute
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import resource
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

# Imported before any thread setting, as the command line does: torch's thread count at import
# time is what TorchRL's batched envs restore when they close.
from shapo_rl.config import TrainConfig
from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium
from shapo_rl.rollout.datamodule import RolloutDataModule
from shapo_rl.checkpoints import build_module
from shapo_rl.training import resolve, train

TASKS = ("SafetyPointGoal1-v0", "SafetyHopperVelocity-v1")


def raw_steps_per_second(task: str, steps: int, seed: int = 0) -> float:
    """Step the bare simulator with uniform random actions (resetting at episode ends)."""
    safety_gymnasium = import_safety_gymnasium()
    env = safety_gymnasium.make(task)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def collection_steps_per_second(config: TrainConfig, steps: int) -> float:
    """One rollout of ``steps`` env steps through the training's data module and collector,
    with one torch thread (what ``train`` asks for)."""
    torch.set_num_threads(1)
    config = resolve(replace(config, steps_per_epoch=steps, steps=steps))
    module = build_module(config)
    data = RolloutDataModule(config, module.policy, module.obs_normalizer)
    data.setup("fit")
    try:
        rollouts = iter(data.source.collector)
        data.reseed(0)
        start = time.perf_counter()
        batch = next(rollouts)
        elapsed = time.perf_counter() - start
    finally:
        data.teardown("fit")
    return batch.numel() / elapsed


def training_steps_per_second(config: TrainConfig) -> tuple[float, float]:
    """End to end: env steps of the whole run / wall time of ``train()``, and the mean update
    time (actor + critics) per epoch in seconds, from the run's metrics.csv."""
    with tempfile.TemporaryDirectory(prefix="shapo-bench-") as run_dir:
        start = time.perf_counter()
        train(config, Path(run_dir), progress=False, accelerator="cpu")
        elapsed = time.perf_counter() - start
        with open(Path(run_dir) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    update = np.mean([float(r["actor_seconds"]) + float(r["critic_seconds"]) for r in rows])
    return config.steps / elapsed, float(update)


def peak_memory_mib() -> tuple[float, float]:
    """Peak resident memory (MiB) of this process and of its (waited-for) children so far."""
    to_mib = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20  # ru_maxrss: KiB on Linux
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * to_mib,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * to_mib)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--epochs", type=int, default=2, help="training epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--raw-steps", type=int, default=5_000)
    parser.add_argument("--collect-steps", type=int, default=20_000)
    parser.add_argument("--num-envs", type=int, default=None, help="override the default batching")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["raw", "collect", "train"])
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    load = os.getloadavg()
    print(f"# {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"torch {torch.__version__}, {args.epochs} x {args.steps_per_epoch} training steps", flush=True)
    header = (f"{'task':<26}{'raw/s':>9}{'raw range':>13}{'collect/s':>11}{'train/s':>9}{'train/raw':>11}"
              f"{'collect/raw':>13}{'update s':>10}{'maxrss MiB':>12}{'children MiB':>14}")
    rows = []
    for task in args.tasks:
        config = resolve(TrainConfig(algo="trpo-lag", env=task, steps=args.epochs * args.steps_per_epoch,
                                     steps_per_epoch=args.steps_per_epoch, num_envs=args.num_envs, seed=args.seed))
        nan = float("nan")
        raws = []

        def measure_raw() -> None:
            if "raw" not in args.skip:
                raws.append(raw_steps_per_second(task, args.raw_steps, args.seed))
                print(f"  {task}: raw {raws[-1]:.0f} steps/s", flush=True)

        measure_raw()
        collect = collection_steps_per_second(config, args.collect_steps) if "collect" not in args.skip else nan
        print(f"  {task}: collection {collect:.0f} steps/s (num_envs {config.num_envs})", flush=True)
        measure_raw()
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        trained, update = training_steps_per_second(config) if "train" not in args.skip else (nan, nan)
        print(f"  {task}: training {trained:.0f} steps/s, update {update:.2f} s per epoch", flush=True)
        measure_raw()
        raw = (float(np.median(raws)), min(raws), max(raws)) if raws else (nan, nan, nan)
        rows.append((task, raw, collect, trained, update, *peak_memory_mib()))

    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(header)
    for task, (raw, low, high), collect, trained, update, rss, children in rows:
        print(f"{task:<26}{raw:>9.0f}{f'{low:.0f}-{high:.0f}':>13}{collect:>11.0f}{trained:>9.0f}{trained / raw:>11.2f}"
              f"{collect / raw:>13.2f}{update:>10.2f}{rss:>12.0f}{children:>14.0f}")


if __name__ == "__main__":
    main()
