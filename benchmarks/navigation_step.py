"""Env steps/s of a slice of safety-gymnasium navigation envs: stock vs the batched fast step.

For each task, in one process, rounds of back-to-back measurements (this machine's speed drifts
with other users' load, so each round measures every variant in a row and the ratios come from
the same round):

* physics -- ``mujoco.mj_step(model, data, nstep=frameskip)`` alone on one env's own model and
             data, in a loop (one core): the ceiling of raw stepping;
* stock   -- :class:`StockSlice` of ``--envs`` envs (each env's own ``step``);
* fast/N  -- :class:`NavigationSlice` of the same envs stepping the physics in N threads.

Random actions in [-1, 1], envs reset (seeded once) when done; resets are outside the timed
steps. Prints the median over rounds of env steps/s and of each variant's ratio to physics, by
wall clock and per CPU second of this process (``time.process_time``: what one core does
when other users' load takes the wall clock away; for N threads, the CPU seconds of all of them).

    python benchmarks/navigation_step.py --tasks SafetyPointGoal1-v0 --steps 300 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import mujoco
import numpy as np

from shapo_rl.envs.batched.navigation import NavigationSlice
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.registry import get_task


def physics_steps_per_second(spec, steps: int) -> tuple[float, float]:
    env = StockSlice(spec, spec.max_episode_steps, 1)
    env.reset([(0, 0)])
    task = env.envs[0].unwrapped.task
    model, data, frameskip = task.model, task.data, task.sim_conf.frameskip_binom_n
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        mujoco.mj_step(model, data, nstep=frameskip)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    env.close()
    return steps / elapsed, steps / cpu


def slice_steps_per_second(env_slice, steps: int, seed: int) -> tuple[float, float]:
    count = len(env_slice.envs)
    env_slice.reset([(j, seed + j) for j in range(count)])
    space = env_slice.envs[0].action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high, (steps, count, *space.shape))
    elapsed = cpu = 0.0
    for t in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        _, _, _, terminated, truncated = env_slice.step(actions[t].astype(np.float32))
        elapsed += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            env_slice.reset([(int(j), None) for j in done])
    return steps * count / elapsed, steps * count / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["SafetyPointGoal1-v0", "SafetyCarGoal1-v0", "SafetyPointButton1-v0"])
    parser.add_argument("--envs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300, help="slice steps per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for name in args.tasks:
        spec = get_task(name)
        variants = {"stock": StockSlice(spec, spec.max_episode_steps, args.envs)}
        for threads in args.threads:
            variants[f"fast/{threads}"] = NavigationSlice(spec, spec.max_episode_steps, args.envs, threads=threads)
        rates: dict[str, list[tuple[float, float]]] = {"physics": [], **{key: [] for key in variants}}
        for round_ in range(args.rounds):
            rates["physics"].append(physics_steps_per_second(spec, args.steps * 10))
            for key, env_slice in variants.items():
                rates[key].append(slice_steps_per_second(env_slice, args.steps, seed=1000 * round_))
        for env_slice in variants.values():
            env_slice.close()
        print(f"{name} ({args.envs} envs, {args.rounds} rounds of {args.steps} steps; median [range])")
        for key, values in rates.items():
            line = f"  {key:9s}"
            for clock, label in ((0, "wall"), (1, "per CPU-s")):
                rate = [v[clock] for v in values]
                ratio = [v[clock] / p[clock] for v, p in zip(values, rates["physics"])]
                line += (f"  {label} {statistics.median(rate):6.0f} [{min(rate):.0f}-{max(rate):.0f}]"
                         f" x physics {statistics.median(ratio):.2f} [{min(ratio):.2f}-{max(ratio):.2f}]")
            print(line)


if __name__ == "__main__":
    main()
