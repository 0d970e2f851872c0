"""Throughput against the limit the simulator sets: every figure of a task as a ratio to its physics.

For each task, in one run on one machine (the machines here are shared and noisy: compare the
ratios of one run, never figures of two runs):

* physics    -- ``mujoco.mj_step(model, data, nstep=frame_skip)`` alone on the task's own model
                and data, uniform random controls, one core: the ceiling of one core. Measured
                before and after the other figures; the median of the two is every ratio's
                denominator.
* stock raw  -- the task's own env, one env, random actions, resets at episode ends
                (skybox-free, as training resets), one core;
* fast 1c    -- the fast backend's slice of ``--num-envs`` envs (numpy in and out, no TorchRL),
                random actions, resets of the envs whose episode ended, one physics thread;
* fast all   -- the same with the default layout of this machine (one physics thread per core);
* train      -- ``shapo-rl train --algo trpo-lag`` with defaults (``--epochs`` epochs of
                ``--steps-per-epoch`` steps) in a subprocess, as a long run trains: the critics
                regress in a child process beside the next rollout (``--overlap-critics``, the
                default from 200k steps). Env steps / the epochs' summed ``epoch_seconds``
                (start-up, about 3 s of imports and env build, aside; the child's start-up, about
                1.3 s of imports, falls in the first epoch), with the epoch's actor seconds and the critics'
                seconds in the child (from metrics.csv);
* serial     -- the same training with ``--no-overlap-critics`` (the critics after the actor),
                with the epoch's split into collection, actor and critic seconds;
* 1 thread   -- ``train`` and ``serial`` with ``--set physics_threads=1`` (the physics in the main
                thread, beside the critics' child or before the critics): the layouts to choose
                the default from;
* stock tr.  -- the same training with ``--set env_backend=stock``;
* shapo      -- the same training with SHAPO (Fisher, radius 1e-5) and critic SAM: its time per
                epoch over vanilla's, and the actor update's share of its epoch (its critics
                regress beside the rollout);
* tree MiB   -- peak PSS (shared pages split between processes) of the default training's whole
                process tree (its simulator workers included), RSS in brackets;
* reference  -- with ``--reference-python PATH``: the reference library's TRPOLag, same task,
                steps and epochs, one env, run by that interpreter (``reference_trpolag.py``);
* before     -- with ``--before CHECKOUT``: the default training of another checkout of this
                project (an earlier commit, in the same environment), for before/after tables.

    python benchmarks/throughput.py                       # five tasks, 6 epochs of 20,000 steps
    python benchmarks/throughput.py --tasks SafetyHopperVelocity-v1 --epochs 1 --skip stock shapo
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mujoco
import numpy as np

from tree_memory import PeakTreeMemory  # this directory, first on the path when run as a script
from shapo_rl.envs.batched import make_slice
from shapo_rl.envs.registry import get_task
from shapo_rl.envs.simulator import make_simulator
from shapo_rl.envs.skybox import without_skybox
from shapo_rl.envs.workers import physics_threads

TASKS = ("SafetyPointGoal1-v0", "SafetyCarGoal1-v0", "SafetyPointButton1-v0", "SafetyHopperVelocity-v1",
         "Walker2d-v4")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _physics_handles(env) -> tuple[mujoco.MjModel, mujoco.MjData, int]:
    """The model, data and frame skip of a built and reset env (safety-gymnasium builder or gym MuJoCo)."""
    unwrapped = env.unwrapped
    if hasattr(unwrapped, "task"):  # a safety-gymnasium builder task: its frame skip is binomial(n, p = 1)
        return unwrapped.task.model, unwrapped.task.data, unwrapped.task.sim_conf.frameskip_binom_n
    return unwrapped.model, unwrapped.data, unwrapped.frame_skip


def physics_steps_per_second(task: str, steps: int, seed: int = 0) -> float:
    """Env steps/s of ``mj_step`` alone on one env's model, random controls in the control range,
    the state restored to the reset state every 1,000 steps (an episode)."""
    spec = get_task(task)
    env = make_simulator(spec, spec.max_episode_steps, None)
    with without_skybox():
        env.reset(seed=seed)
    model, data, frame_skip = _physics_handles(env)
    low, high = model.actuator_ctrlrange.T
    rng = np.random.default_rng(seed)
    controls = rng.uniform(low, high, size=(1000, model.nu))
    qpos, qvel = data.qpos.copy(), data.qvel.copy()
    start = time.perf_counter()
    for t in range(steps):
        if t % 1000 == 0:
            data.qpos[:], data.qvel[:] = qpos, qvel
            mujoco.mj_forward(model, data)
        data.ctrl[:] = controls[t % 1000]
        mujoco.mj_step(model, data, nstep=frame_skip)
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def stock_steps_per_second(task: str, steps: int, seed: int = 0) -> float:
    """One env of ``task``, its own ``step``, random actions, skybox-free resets at episode ends."""
    spec = get_task(task)
    env = make_simulator(spec, spec.max_episode_steps, None)
    with without_skybox():
        env.reset(seed=seed)
    env.action_space.seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        out = env.step(env.action_space.sample())
        if out[-3] or out[-2]:  # terminated or truncated, in 5- and 6-tuples alike
            with without_skybox():
                env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def slice_steps_per_second(task: str, steps: int, num_envs: int, threads: int | None,
                           seed: int = 0) -> tuple[float, str]:
    """Env steps/s of a fast slice of ``num_envs`` envs (random actions, resets of ended envs) and
    the name of the slice class that stepped them."""
    spec = get_task(task)
    envs = make_slice("fast", spec, spec.max_episode_steps, num_envs, threads=threads)
    try:
        _, action_space = envs.spaces()
        rng = np.random.default_rng(seed)
        envs.reset([(j, seed + j) for j in range(num_envs)])
        batches = max(1, steps // num_envs)
        low, high = action_space.low, action_space.high
        start = time.perf_counter()
        for _ in range(batches):
            *_, terminated, truncated = envs.step(rng.uniform(low, high, size=(num_envs, *low.shape)))
            ended = np.flatnonzero(terminated | truncated)
            if ended.size:
                envs.reset([(int(j), None) for j in ended])
        elapsed = time.perf_counter() - start
    finally:
        envs.close()
    return batches * num_envs / elapsed, type(envs).__name__


def _metrics(run: Path) -> list[dict[str, float]]:
    with (run / "metrics.csv").open() as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def training(task: str, epochs: int, steps_per_epoch: int, seed: int, extra: list[str],
             checkout: Path = ROOT) -> dict[str, float]:
    """Train trpo-lag on ``task`` in a subprocess (the project at ``checkout``); its speed, its
    mean per-epoch split and the peak memory of its process tree."""
    with tempfile.TemporaryDirectory(prefix="shapo-bench-") as tmp:
        run = Path(tmp) / "run"
        command = [sys.executable, "-m", "cli.app", "train", "--algo", "trpo-lag", "--env", task,
                   "--steps", str(epochs * steps_per_epoch), "--steps-per-epoch", str(steps_per_epoch),
                   "--seed", str(seed), "--out", str(run), "--no-progress", *extra]
        environ = {**os.environ, "PYTHONPATH": str(checkout)}
        process = subprocess.Popen(command, cwd=checkout, env=environ, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        with PeakTreeMemory(process.pid) as memory:
            _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"training {task} failed: {err.strip().splitlines()[-1] if err.strip() else ''}")
        rows = _metrics(run)
    seconds = sum(r["epoch_seconds"] for r in rows)
    actor = statistics.fmean(r["actor_seconds"] for r in rows)
    critics = statistics.fmean(r["critic_seconds"] for r in rows)
    epoch = seconds / len(rows)
    return {"steps_per_second": epochs * steps_per_epoch / seconds, "epoch": epoch, "actor": actor,
            "critics": critics, "collection": epoch - actor - critics, "rss": memory.peak[0], "pss": memory.peak[1]}


def reference_steps_per_second(python: str, task: str, epochs: int, steps_per_epoch: int, seed: int) -> float:
    """The reference library's TRPOLag in its own environment (``reference_trpolag.py``)."""
    command = [python, str(HERE / "reference_trpolag.py"), "--task", task, "--steps", str(epochs * steps_per_epoch),
               "--steps-per-epoch", str(steps_per_epoch), "--seed", str(seed)]
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the reference run on {task} failed: {out.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_second"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--epochs", type=int, default=6, help="training epochs")
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--raw-steps", type=int, default=10_000, help="env steps of each raw figure")
    parser.add_argument("--num-envs", type=int, default=20, help="envs of the fast slice")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", nargs="*", default=[], choices=["stock", "fast", "train", "serial", "threads", "shapo"],
                        help="figures to leave out ('stock' drops both stock raw and stock training)")
    parser.add_argument("--reference-python", help="a Python with the reference library installed")
    parser.add_argument("--before", type=Path, help="another checkout of this project to train beside")
    args = parser.parse_args(argv)
    nan = float("nan")
    load = os.getloadavg()
    print(f"# {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{args.epochs} x {args.steps_per_epoch} training steps; ratios are to physics alone", flush=True)
    table = []
    for task in args.tasks:
        def say(what: str) -> None:
            print(f"  {task}: {what}", flush=True)

        physics = [physics_steps_per_second(task, args.raw_steps, args.seed)]
        say(f"physics {physics[0]:.0f} env steps/s")
        row: dict[str, float | str] = {"task": task}
        if "stock" not in args.skip:
            row["stock raw"] = stock_steps_per_second(task, args.raw_steps, args.seed)
            say(f"stock raw {row['stock raw']:.0f}")
        if "fast" not in args.skip:
            row["fast 1c"], name = slice_steps_per_second(task, args.raw_steps, args.num_envs, 1, args.seed)
            row["fast all"], _ = slice_steps_per_second(task, args.raw_steps, args.num_envs, physics_threads(), args.seed)
            say(f"{name}: fast raw {row['fast 1c']:.0f} on one core, {row['fast all']:.0f} with the default layout")
        if "train" not in args.skip:
            fast = training(task, args.epochs, args.steps_per_epoch, args.seed, ["--overlap-critics"])
            row.update({"train": fast["steps_per_second"], "pss": fast["pss"], "rss": fast["rss"]})
            say(f"train {fast['steps_per_second']:.0f} steps/s; per epoch {fast['epoch']:.2f} s: {fast['actor']:.2f} s "
                f"actor, then the rollout beside {fast['critics']:.2f} s of critics; tree PSS {fast['pss']:.0f} MiB")
            if "serial" not in args.skip:
                serial = training(task, args.epochs, args.steps_per_epoch, args.seed, ["--no-overlap-critics"])
                row["serial train"] = serial["steps_per_second"]
                say(f"serial train {serial['steps_per_second']:.0f}; per epoch {serial['collection']:.2f} s collection, "
                    f"{serial['actor']:.2f} s actor, {serial['critics']:.2f} s critics")
            if "threads" not in args.skip:
                for column, layout in (("1 thread", "--overlap-critics"), ("serial 1 thread", "--no-overlap-critics")):
                    one = training(task, args.epochs, args.steps_per_epoch, args.seed,
                                   [layout, "--set", "physics_threads=1"])
                    row[column] = one["steps_per_second"]
                    say(f"{column} train {one['steps_per_second']:.0f}; per epoch {one['epoch']:.2f} s")
            if "stock" not in args.skip:
                stock = training(task, args.epochs, args.steps_per_epoch, args.seed, ["--set", "env_backend=stock"])
                row["stock train"] = stock["steps_per_second"]
                say(f"stock train {stock['steps_per_second']:.0f}; per epoch {stock['collection']:.2f} s collection")
            if "shapo" not in args.skip:
                shapo = training(task, args.epochs, args.steps_per_epoch, args.seed,
                                 ["--overlap-critics", "--shapo", "fisher", "--shapo-radius", "1e-5", "--critic-sam"])
                row["shapo x"] = shapo["epoch"] / fast["epoch"]
                row["shapo update share"] = shapo["actor"] / shapo["epoch"]
                say(f"SHAPO + critic SAM: {row['shapo x']:.2f}x vanilla's epoch; update {shapo['actor']:.2f} s actor "
                    f"({row['shapo update share']:.0%} of its epoch), {shapo['critics']:.2f} s critics beside the rollout")
            if args.before:
                before = training(task, args.epochs, args.steps_per_epoch, args.seed, [], checkout=args.before)
                row["before train"] = before["steps_per_second"]
                say(f"before: train {before['steps_per_second']:.0f}; per epoch {before['collection']:.2f} s "
                    f"collection, {before['actor']:.2f} s actor, {before['critics']:.2f} s critics")
        if args.reference_python:
            row["reference"] = reference_steps_per_second(args.reference_python, task, args.epochs,
                                                          args.steps_per_epoch, args.seed)
            say(f"reference TRPOLag {row['reference']:.0f} steps/s")
        physics.append(physics_steps_per_second(task, args.raw_steps, args.seed))
        row["physics"] = statistics.median(physics)
        say(f"physics again {physics[1]:.0f}")
        table.append(row)

    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    columns = ["stock raw", "fast 1c", "fast all", "train", "serial train", "1 thread", "serial 1 thread",
               "stock train", "before train", "reference"]
    present = [c for c in columns if any(c in row for row in table)]
    width = {c: max(13, len(c) + 2) for c in present}
    print(f"{'task':<26}{'physics/s':>10}" + "".join(f"{c:>{width[c]}}" for c in present)
          + f"{'shapo x':>9}{'actor share':>12}{'tree PSS (RSS) MiB':>20}")
    for row in table:
        cells = "".join(f"{row[c] / row['physics']:.2f} {row[c]:>6.0f}".rjust(width[c]) if c in row else " " * width[c]
                        for c in present)
        memory = f"{row['pss']:.0f} ({row['rss']:.0f})" if "pss" in row else ""
        print(f"{row['task']:<26}{row['physics']:>10.0f}{cells}{row.get('shapo x', nan):>9.2f}"
              f"{row.get('shapo update share', nan):>12.0%}{memory:>20}")
    print("# each column: ratio to physics alone, then env steps/s")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
