"""Update time of vanilla TRPO-Lag vs TRPO-Lag with SHAPO (Fisher) + critic SAM, on the same data.

SafetyPointGoal1-v0 rollouts (``--epochs`` x ``--steps-per-epoch`` env steps) are collected
once with a freshly initialised TRPO-Lag policy and kept. Each variant then updates on every
stored rollout through the real ``Trainer.fit`` / ``training_step`` path, each time from those
initial weights (so every update is on-policy) and the same torch seed, and the actor + critic
update times (``actor_seconds`` + ``critic_seconds`` of the epoch metrics) are summed. Variants
are interleaved over ``--repeats`` repetitions so that a change of machine load hits both; the
ratio is taken per repetition and as the ratio of the medians.

    python benchmarks/shapo_update_time.py                    # 3 x 20,000 steps, 3 repetitions
    python benchmarks/shapo_update_time.py --epochs 1 --steps-per-epoch 4000 --repeats 1
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import time
import warnings
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from tensordict import TensorDictBase
from torch.utils.data import DataLoader, IterableDataset

from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.config import ShapoConfig, TrainConfig
from shapo_rl.rollout.datamodule import RolloutDataModule
from shapo_rl.checkpoints import build_module
from shapo_rl.training import resolve

TASK = "SafetyPointGoal1-v0"


def collect(config: TrainConfig, epochs: int) -> tuple[list[TensorDictBase], dict]:
    """``epochs`` rollouts of a fresh policy through the training's data module; initial weights."""
    module = build_module(config)
    initial = {k: copy.deepcopy(v) for k, v in module.state_dict().items() if not k.startswith("obs_normalizer.")}
    data = RolloutDataModule(config, module.policy, module.obs_normalizer)
    data.setup("fit")
    batches = []
    try:
        rollouts = iter(data.source.collector)
        for epoch in range(epochs):
            data.reseed(epoch)
            batches.append(next(rollouts).clone())
    finally:
        data.teardown("fit")
    return batches, initial


class _Replay(IterableDataset):
    """One stored rollout (a copy, since the update writes advantages into it)."""

    def __init__(self, batch: TensorDictBase):
        super().__init__()
        self.batch = batch

    def __len__(self) -> int:
        return 1

    def __iter__(self):
        yield self.batch.clone()


def update_time(config: TrainConfig, obs_dim: int, act_dim: int, initial: dict,
                batches: list[TensorDictBase], seed: int) -> tuple[float, float, list[dict]]:
    """One update of ``config`` per stored rollout, each from the ``initial`` weights (which
    collected all of them, so every update is on-policy): total actor and critic seconds, and
    each update's metrics."""
    actor = critic = 0.0
    metrics = []
    for i, batch in enumerate(batches):
        module = SafePolicyOptimization(config, obs_dim=obs_dim, act_dim=act_dim, cost_limit=config.cost_limit)
        module.load_state_dict(initial)
        trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        torch.manual_seed(seed + i)
        trainer.fit(module, train_dataloaders=DataLoader(_Replay(batch), batch_size=None, collate_fn=lambda x: x))
        actor += module.epoch_metrics["actor_seconds"]
        critic += module.epoch_metrics["critic_seconds"]
        metrics.append(module.epoch_metrics)
    return actor, critic, metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="rollouts collected and replayed")
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--radius", type=float, default=1e-5)
    parser.add_argument("--rho", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rollouts", type=Path, default=None,
                        help="keep the collected rollouts in this file and reuse them when it exists")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    vanilla = resolve(TrainConfig(algo="trpo-lag", env=TASK, steps=args.epochs * args.steps_per_epoch,
                                  steps_per_epoch=args.steps_per_epoch, seed=args.seed))
    shapo = replace(vanilla, shapo=ShapoConfig(geometry="fisher", radius=args.radius, critic_sam=True,
                                               critic_sam_rho=args.rho))
    load = os.getloadavg()
    print(f"# {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; collecting "
          f"{args.epochs} x {args.steps_per_epoch} steps of {TASK}", flush=True)
    start = time.perf_counter()
    if args.rollouts is not None and args.rollouts.exists():
        stored = torch.load(args.rollouts, weights_only=False)
        batches, initial = stored["batches"], stored["initial"]
        print(f"# rollouts read from {args.rollouts}", flush=True)
    else:
        L.seed_everything(args.seed, verbose=False)
        batches, initial = collect(vanilla, args.epochs)
        torch.set_num_threads(1)
        if args.rollouts is not None:
            torch.save({"batches": batches, "initial": initial}, args.rollouts)
        print(f"# collected in {time.perf_counter() - start:.0f} s", flush=True)
    obs_dim, act_dim = batches[0]["observation"].shape[-1], batches[0]["action"].shape[-1]
    print(f"# updates on the same {len(batches)} rollouts of {batches[0].numel()} steps, "
          f"{args.repeats} repetition(s)", flush=True)

    results: dict[str, list[tuple[float, float]]] = {"vanilla": [], "shapo": []}
    for rep in range(args.repeats):
        for name, config in (("vanilla", vanilla), ("shapo", shapo)):
            actor, critic, metrics = update_time(config, obs_dim, act_dim, initial, batches, args.seed)
            results[name].append((actor, critic))
            kl = " ".join(f"{m['kl']:.4f}" for m in metrics)
            print(f"  rep {rep} {name:<8} actor {actor:7.2f} s  critic {critic:7.2f} s  total {actor + critic:7.2f} s"
                  f"  (kl per update: {kl})", flush=True)

    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    per_epoch = lambda xs: statistics.median(xs) / len(batches)  # noqa: E731
    va, vc = ([r[i] for r in results["vanilla"]] for i in (0, 1))
    sa, sc = ([r[i] for r in results["shapo"]] for i in (0, 1))
    vt = [a + c for a, c in results["vanilla"]]
    st = [a + c for a, c in results["shapo"]]
    print(f"{'per update (median)':<22}{'actor s':>9}{'critic s':>10}{'total s':>9}")
    print(f"{'TRPO-Lag':<22}{per_epoch(va):>9.3f}{per_epoch(vc):>10.3f}{per_epoch(vt):>9.3f}")
    print(f"{'+ SHAPO + critic SAM':<22}{per_epoch(sa):>9.3f}{per_epoch(sc):>10.3f}{per_epoch(st):>9.3f}")
    print(f"{'ratio':<22}{per_epoch(sa) / per_epoch(va):>9.2f}{per_epoch(sc) / per_epoch(vc):>10.2f}"
          f"{per_epoch(st) / per_epoch(vt):>9.2f}")
    print("per-repetition total ratios: " + " ".join(f"{s / v:.2f}" for s, v in zip(st, vt)))


if __name__ == "__main__":
    main()
