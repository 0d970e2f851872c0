"""Throughput of the simulator, of our collection stack and of end-to-end TRPO-Lag training.

For each task, in one process:

* raw       -- ``safety_gymnasium.make`` alone, random actions, one core (the ceiling), measured
               two ways: with the stock reset (the world recompiled with its 191 MB skybox) and
               with the skybox-free reset the training uses (``shapo_rl.envs.skybox``). This
               machine's speed drifts by +-20% within a minute (the same seeded 5,000 Hopper steps
               measured 2,680-3,860 steps/s in a row), so raw is measured before collection,
               between collection and training, and after training; the median is the ratio's
               denominator and the range is printed;
* collect   -- our env stack with the default batching, through the same rollout collector the
               training uses (``RolloutDataModule``), with a freshly initialised policy;
* train     -- ``shapo_rl.training.train`` of TRPO-Lag with defaults (20,000-step epochs),
               progress off: total env steps / wall time of ``train()``;
* ratios    -- train / raw with the stock reset and train / raw with the skybox-free reset;
* update s  -- mean actor + critic update seconds per training epoch (from its metrics.csv);
* tree MiB  -- peak memory of the whole process tree (this process and its simulator workers)
               during training: the sum of PSS (shared pages split between the processes), and
               of RSS (an upper bound) in brackets;
* layouts   -- with ``--layouts``: env steps/s of 20 envs stepped with random actions through
               ``make_env`` with 0 and 1 simulator worker processes (in-process vs a worker).

    python benchmarks/throughput.py                       # four tasks, 2 epochs of 20,000 steps
    python benchmarks/throughput.py --epochs 1 --steps-per-epoch 4000 --raw-steps 2000 \
        --collect-steps 4000 --tasks SafetyHopperVelocity-v1     # about a minute
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import os
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

# Imported before any thread setting, as the command line does: torch's thread count at import
# time is what TorchRL's batched envs restore when they close.
from tree_memory import PeakTreeMemory  # this directory, first on the path when run as a script
from shapo_rl.config import TrainConfig
from shapo_rl.envs import make_env
from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium
from shapo_rl.envs.skybox import without_skybox
from shapo_rl.rollout.datamodule import RolloutDataModule
from shapo_rl.checkpoints import build_module
from shapo_rl.training import resolve, train

TASKS = ("SafetyPointGoal1-v0", "SafetyCarGoal1-v0", "SafetyPointButton1-v0", "SafetyHopperVelocity-v1")


def raw_steps_per_second(task: str, steps: int, seed: int = 0, skybox: bool = True) -> float:
    """Step the bare simulator with uniform random actions (resetting at episode ends), its
    resets compiling the stock world (``skybox``) or the skybox-free one."""
    safety_gymnasium = import_safety_gymnasium()
    env = safety_gymnasium.make(task)
    sky = contextlib.nullcontext if skybox else without_skybox
    with sky():
        env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            with sky():
                env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def layout_steps_per_second(task: str, workers: int, steps: int, num_envs: int = 20, seed: int = 0) -> float:
    """Env steps/s of ``num_envs`` envs of ``task`` through ``make_env`` with ``workers`` simulator
    worker processes, random actions, resets included (``steps`` env steps in all)."""
    env = make_env(task, num_envs=num_envs, seed=seed, workers=workers)
    generator = torch.Generator().manual_seed(seed)
    try:
        td = env.reset()
        start = time.perf_counter()
        for _ in range(steps // num_envs):
            td["action"] = torch.rand(env.action_spec.shape, generator=generator) * 2 - 1
            _, td = env.step_and_maybe_reset(td)
        return steps // num_envs * num_envs / (time.perf_counter() - start)
    finally:
        env.close()


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


def training_steps_per_second(config: TrainConfig) -> tuple[float, float, tuple[float, float]]:
    """End to end: env steps of the whole run / wall time of ``train()``, the mean update time
    (actor + critics) per epoch in seconds, from the run's metrics.csv, and the peak (RSS, PSS)
    MiB of this process tree meanwhile."""
    with tempfile.TemporaryDirectory(prefix="shapo-bench-") as run_dir, PeakTreeMemory() as memory:
        start = time.perf_counter()
        train(config, Path(run_dir), progress=False, accelerator="cpu")
        elapsed = time.perf_counter() - start
        with open(Path(run_dir) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    update = np.mean([float(r["actor_seconds"]) + float(r["critic_seconds"]) for r in rows])
    return config.steps / elapsed, float(update), memory.peak


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
    parser.add_argument("--layouts", type=int, default=0, metavar="STEPS",
                        help="also compare 0 and 1 simulator workers over this many env steps per task")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    load = os.getloadavg()
    print(f"# {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"torch {torch.__version__}, {args.epochs} x {args.steps_per_epoch} training steps", flush=True)
    header = (f"{'task':<26}{'raw stock/s':>12}{'range':>11}{'raw no-sky/s':>13}{'range':>11}{'collect/s':>10}"
              f"{'train/s':>9}{'train/stock':>12}{'train/no-sky':>13}{'update s':>9}{'tree PSS (RSS) MiB':>20}")
    rows = []
    nan = float("nan")
    for task in args.tasks:
        config = resolve(TrainConfig(algo="trpo-lag", env=task, steps=args.epochs * args.steps_per_epoch,
                                     steps_per_epoch=args.steps_per_epoch, num_envs=args.num_envs, seed=args.seed))
        raws: dict[bool, list[float]] = {True: [], False: []}

        def measure_raw() -> None:
            if "raw" not in args.skip:
                for skybox in (True, False):
                    raws[skybox].append(raw_steps_per_second(task, args.raw_steps, args.seed, skybox=skybox))
                print(f"  {task}: raw {raws[True][-1]:.0f} steps/s stock, {raws[False][-1]:.0f} skybox-free",
                      flush=True)

        measure_raw()
        collect = collection_steps_per_second(config, args.collect_steps) if "collect" not in args.skip else nan
        print(f"  {task}: collection {collect:.0f} steps/s (num_envs {config.num_envs})", flush=True)
        measure_raw()
        torch.manual_seed(args.seed)
        np.random.seed(args.seed)
        trained, update, memory = (training_steps_per_second(config) if "train" not in args.skip
                                   else (nan, nan, (nan, nan)))
        print(f"  {task}: training {trained:.0f} steps/s, update {update:.2f} s per epoch, "
              f"tree PSS {memory[1]:.0f} MiB (RSS {memory[0]:.0f})", flush=True)
        measure_raw()
        if args.layouts:
            for workers in (0, 1):
                rate = layout_steps_per_second(task, workers, args.layouts, seed=args.seed)
                print(f"  {task}: layout, 20 envs with {workers} worker(s): {rate:.0f} env steps/s", flush=True)
        raw = {k: (float(np.median(v)), min(v), max(v)) if v else (nan, nan, nan) for k, v in raws.items()}
        rows.append((task, raw[True], raw[False], collect, trained, update, memory))

    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(header)
    for task, stock, free, collect, trained, update, (rss, pss) in rows:
        print(f"{task:<26}{stock[0]:>12.0f}{f'{stock[1]:.0f}-{stock[2]:.0f}':>11}{free[0]:>13.0f}"
              f"{f'{free[1]:.0f}-{free[2]:.0f}':>11}{collect:>10.0f}{trained:>9.0f}{trained / stock[0]:>12.2f}"
              f"{trained / free[0]:>13.2f}{update:>9.2f}{f'{pss:.0f} ({rss:.0f})':>20}")


if __name__ == "__main__":
    main()
