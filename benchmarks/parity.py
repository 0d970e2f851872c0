"""Learning parity with the reference library: which of its learning details matter, measured.

TRPO-Lag with the library's former defaults (``former``), with each of the reference library's
details switched alone on top of them, and with all of them (``defaults``: the library's
defaults since this measurement), on each task and seed; then per task and variant the mean and
standard error over seeds of the last epoch's return and cost, over the epoch's episodes and over
the last 50 episodes (the window the reference library logs). The grid runs through the recipe
layer's local engine, so finished runs in ``--out`` are skipped and interrupted ones resume.

    python benchmarks/parity.py                                   # 2 tasks x 8 variants x 3 seeds, 200k steps
    python benchmarks/parity.py --tasks SafetyPointGoal1-v0 --variants former defaults --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from shapo_rl.launch import last_epoch_summary, markdown_table
from shapo_rl.launch.engines import LocalEngine
from shapo_rl.launch.recipe import Grid, Recipe, Scale, Variant

# Each difference: the former default's settings (the reference library's value is today's default).
DIFFERENCES = {
    "log_std_0": ["model.init_log_std=-0.5"],  # sigma 1 at the start, formerly 0.61
    "torch_init": ["model.actor_init=orthogonal"],  # PyTorch's default layer init, formerly orthogonal with a 0.01 head
    "kl_mean": ["model.kl_reduction=sum"],  # KL averaged over action dimensions, formerly summed
    "normaliser": ["obs_clip=10", "obs_std_floor=0"],  # clip 5 and std floored at 1e-2, formerly 10 and none
    "jc_window": ["episode_cost_window=0"],  # Jc over the last 50 episodes, formerly the epoch's
    "critic_clip": ["critic.max_grad_norm=null"],  # critic gradients clipped at norm 40, formerly not
}
FORMER = [s for settings in DIFFERENCES.values() for s in settings]
# A difference switched alone: the former defaults but for that one.
VARIANTS = {"former": FORMER,
            **{name: [s for other, settings in DIFFERENCES.items() if other != name for s in settings]
               for name in DIFFERENCES},
            "defaults": []}
METRICS = ("ep_return", "ep_cost", "ep_return_last50", "ep_cost_last50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["SafetyPointGoal1-v0", "SafetyHopperVelocity-v1"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--out", type=Path, default=Path("runs/parity"))
    args = parser.parse_args()

    variants = tuple(Variant(name, tuple(VARIANTS[name])) for name in args.variants)
    recipe = Recipe("parity", paper=Scale("parity", args.steps, min(args.steps, 20_000), tuple(args.seeds)),
                    grids=(Grid("parity", ("trpo-lag",), tuple(args.tasks), variants, settings=("cost_limit=25",)),))
    plan = recipe.plan(recipe.paper, args.out)
    failed = LocalEngine(args.jobs).run([run.spec for run in plan],
                                        lambda spec, outcome: print(f"{spec.name}: {outcome}"))
    if failed:
        raise SystemExit(f"{failed} runs failed; their reasons are in {args.out / 'logs'}")
    runs = {(run.config.env, run.config.variant, run.config.seed): run.spec.run_dir for run in plan}
    groups = {f"{task} {variant}": [runs[task, variant, seed] for seed in args.seeds]
              for task in args.tasks for variant in args.variants}
    print(markdown_table(last_epoch_summary(groups, METRICS), METRICS))


if __name__ == "__main__":
    main()
