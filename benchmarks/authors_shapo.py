"""PID-Lag TRPO with and without SHAPO: the SHAPO authors' code beside shapo-rl's.

Two modes. ``drive`` runs the authors' ``safepo/single_agent/trpo_pid.py`` (their SafePO fork,
a checkout given by ``--repo``) with a separate Python that holds its dependencies (never a
dependency of shapo-rl; this file imports nothing from shapo_rl and copies none of their code)::

    AUTHORS_PYTHON benchmarks/authors_shapo.py drive --repo CHECKOUT --task SafetyPointGoal1-v0 \
        --steps 300000 --seed 0 [--shapo] --out DIR

It builds their arguments with their ``single_agent_args()`` (``--cost-limit 10 --num-envs 5
--steps-per-epoch 20000 --write-terminal True``; ``--shapo`` adds ``--use-shapo-actor True
--perturbation-target-kl 1e-05``, critic SAM off as their default) and calls their ``main``, with
``wandb`` replaced by a stub that writes into a temporary directory and torch held to
``--threads`` threads (their ``main`` asks for 4). Their output goes to ``DIR/terminal.log``,
their progress file (``progress.csv`` in ``args.log_dir``) to ``DIR/progress.csv``, and one row
per epoch to ``DIR/metrics.csv``: the mean return and cost of the epoch's finished episodes (their
logged ``Metrics/EpRet`` is a mean of 50-episode running means; it is kept as ``logged_ep_return``),
the multiplier, and, recorded around each call of their ``compute_shapo_gradients_actor``,
cos(g, g_shapo) between the gradient at theta and the one they return (their
``Misc/CosineSimilarity`` is cos(x, g) with x the CG solution), the accepted perturbation step
fraction (0.8^j, or 0.1 when no backtrack fits: ``fallback``) and the KL it reached.

``compare`` (shapo-rl's own Python) runs both arms of both codes for each seed, ours as
``shapo-rl train --algo trpo-pid --cost-limit 10 --set preset=shapo-authors [--shapo fisher --shapo-radius 1e-5]``,
and writes ``epochs.csv``, ``summary.md`` and ``curves.png`` to ``--out``; finished runs under
``--runs`` (default ``--out``/runs) are kept, not rerun::

    .venv/bin/python benchmarks/authors_shapo.py compare --authors-python AUTHORS_PYTHON \
        --authors-repo CHECKOUT --out DIR [--steps 300000] [--seeds 0 1 2]

Setting up the authors' environment (Python 3.11):

1. ``python3.11 -m venv VENV``, then ``VENV/bin/pip install torch==2.13.0`` first (the CPU wheel).
2. ``pip install numpy==1.23.5 gymnasium==0.28.1 gymnasium-robotics==1.2.2 mujoco==2.3.3
   "pygame>=2.6,<2.7" joblib tensorboard pyyaml xmltodict imageio`` (their logger imports joblib
   and torch's SummaryWriter; wandb is stubbed, isaacgym optional).
3. ``pip install --no-deps safety-gymnasium==1.0.0`` (its pygame==2.1.0 pin has no 3.11 wheel).
4. safety_gymnasium 1.0.0 does not import on Python 3.11 (``ValueError: mutable default <class
   'numpy.ndarray'> for field color``). ``drive`` imports it first with the cure that
   ``benchmarks/reference_trpolag.py`` describes (ndarray class attributes of its dataclasses
   become ``field(default_factory=value.copy)``); to run their scripts by hand, install that cure
   as a ``sitecustomize.py`` as described there.
5. Check: ``VENV/bin/python benchmarks/authors_shapo.py drive --repo CHECKOUT --steps 20000 --out DIR``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import dataclasses
import importlib
import math
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

DRIVER_COLUMNS = ("epoch", "env_steps", "episodes", "ep_return", "ep_cost", "lagrange_multiplier", "shapo_cosine",
                  "shapo_step_frac", "shapo_kl", "fallback", "logged_ep_return", "logged_ep_cost",
                  "logged_cosine", "kl", "acceptance_step", "epoch_seconds", "wall_seconds")
ARMS = ("vanilla", "shapo")
CODES = ("theirs", "ours")


def fail(message: str, code: int = 2) -> None:
    print(f"authors_shapo: {message}", file=sys.stderr)
    raise SystemExit(code)


# ----------------------------------------------------------------------------------- drive
def import_safety_gymnasium() -> None:
    """Import safety_gymnasium 1.0.0 on Python 3.11: ndarray defaults of its dataclasses become factories."""
    if "safety_gymnasium" in sys.modules:
        return
    import numpy as np

    original = dataclasses.dataclass

    def fix(cls):
        for name in getattr(cls, "__annotations__", {}):
            value = cls.__dict__.get(name)
            if isinstance(value, np.ndarray):
                setattr(cls, name, dataclasses.field(default_factory=value.copy))
        return cls

    def dataclass(cls=None, /, **kwargs):
        if cls is None:
            return lambda c: original(fix(c), **kwargs)
        return original(fix(cls), **kwargs)

    dataclasses.dataclass = dataclass
    try:
        importlib.import_module("safety_gymnasium")
    finally:
        dataclasses.dataclass = original


def wandb_stub(directory: str) -> types.ModuleType:
    """What their code calls of wandb: ``init``, ``save`` and ``run.dir`` (a temporary directory)."""
    module = types.ModuleType("wandb")
    module.run = types.SimpleNamespace(dir=directory, name="authors-shapo")
    module.init = lambda *args, **kwargs: module.run
    module.save = lambda *args, **kwargs: None
    module.Settings = lambda *args, **kwargs: None
    return module


class ShapoRecorder:
    """Wraps their ``compute_shapo_gradients_actor``: per call, cos(g, g_shapo), step fraction, KL."""

    def __init__(self, shapo_module: types.ModuleType, original):
        self.shapo, self.original, self.calls = shapo_module, original, []

    def __call__(self, *args, **kwargs):
        import torch.nn.functional as F

        gradients, searches = [], []
        flat_gradients = self.shapo.get_flat_gradients_from
        perturbation = self.shapo.compute_kl_constrained_perturbation

        def gradient_spy(model):
            value = flat_gradients(model)
            gradients.append(value.detach().clone())
            return value

        def perturbation_spy(*a, **k):
            result = perturbation(*a, **k)
            searches.append(result)
            return result

        self.shapo.get_flat_gradients_from = gradient_spy
        self.shapo.compute_kl_constrained_perturbation = perturbation_spy
        try:
            result = self.original(*args, **kwargs)
        finally:
            self.shapo.get_flat_gradients_from = flat_gradients
            self.shapo.compute_kl_constrained_perturbation = perturbation
        g, g_shapo = gradients[0], result[0].detach()
        step_frac, kl, _ = searches[0]
        self.calls.append({"cosine": float(F.cosine_similarity(g, g_shapo, dim=0)), "step_frac": float(step_frac),
                           "kl": float(kl), "fallback": float(step_frac == 0.1)})  # 0.8^j >= 0.134 for j < 10
        return result


class RecordingDeque(collections.deque):
    """Their episode deques (``rew_deque``, ``cost_deque``, ... in creation order) keep what was appended."""

    made: list[RecordingDeque] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.appended: list[float] = []
        RecordingDeque.made.append(self)

    def append(self, value) -> None:
        self.appended.append(float(value))
        super().append(value)


def drive(args: argparse.Namespace) -> None:
    repo = Path(args.repo).resolve()
    single_agent = repo / "safepo" / "single_agent"
    if not (single_agent / "trpo_pid.py").is_file() or not (single_agent / "shapo.py").is_file():
        fail(f"--repo {args.repo}: no safepo/single_agent/trpo_pid.py and shapo.py there (a checkout of the authors' code)")
    if args.steps <= 0 or args.steps % args.steps_per_epoch:
        fail("--steps must be a positive multiple of --steps-per-epoch")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="authors-shapo-")
    try:
        try:
            import torch

            import_safety_gymnasium()
        except Exception as error:  # ImportError, or safety_gymnasium's ValueError without its cure
            fail(f"cannot import the authors' dependencies ({type(error).__name__}: {error}); run this with the python "
                 f"of an environment set up as this file's docstring says")
        sys.modules["wandb"] = wandb_stub(scratch)
        sys.path[:0] = [str(single_agent), str(repo)]
        with open(out / "terminal.log", "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            try:
                trpo_pid = importlib.import_module("trpo_pid")
            except Exception as error:
                fail(f"cannot import their trpo_pid ({type(error).__name__}: {error})")
            run_theirs(trpo_pid, args, Path(scratch), out, torch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_theirs(trpo_pid: types.ModuleType, args: argparse.Namespace, scratch: Path, out: Path, torch) -> None:
    shapo = sys.modules["shapo"]
    recorder = ShapoRecorder(shapo, trpo_pid.compute_shapo_gradients_actor)
    trpo_pid.compute_shapo_gradients_actor = recorder
    trpo_pid.deque = RecordingDeque
    set_num_threads = torch.set_num_threads
    torch.set_num_threads = lambda n: set_num_threads(args.threads)
    torch.set_num_threads(args.threads)

    log_dir = scratch / "runs" / args.task / "trpo_pid"  # their Logger names the run by the last 3 path parts
    argv = ["trpo_pid.py", "--task", args.task, "--cost-limit", str(args.cost_limit), "--seed", str(args.seed),
            "--total-steps", str(args.steps), "--steps-per-epoch", str(args.steps_per_epoch),
            "--num-envs", str(args.num_envs), "--write-terminal", "True", "--log-dir", str(log_dir)]
    if args.shapo:
        argv += ["--use-shapo-actor", "True", "--perturbation-target-kl", str(args.perturbation_kl)]
    sys.argv = argv
    their_args, cfg_env = trpo_pid.single_agent_args()

    metrics = open(out / "metrics.csv", "w", newline="", encoding="utf-8")
    writer = csv.DictWriter(metrics, fieldnames=DRIVER_COLUMNS)
    writer.writeheader()
    start = time.perf_counter()
    state = {"epoch": 0, "calls": 0, "episodes": 0}

    class EpochLogger(trpo_pid.EpochLogger):
        def store(self, add_value=False, **kwargs):
            if "Metrics/EpRet" in kwargs:  # an episode's end: the first two deques must be rew_deque, cost_deque
                for deque, key in zip(RecordingDeque.made, ("Metrics/EpRet", "Metrics/EpCost")):
                    if abs(sum(deque) / len(deque) - kwargs[key]) > 1e-6 * max(1.0, abs(kwargs[key])):
                        raise RuntimeError(f"{key} is not the mean of the deque recorded for it: their main has changed")
            super().store(add_value, **kwargs)

        def dump_tabular(self):
            row = dict(self.log_current_row)
            rewards, costs = RecordingDeque.made[0], RecordingDeque.made[1]
            new = slice(state["episodes"], len(rewards.appended))
            state["episodes"] = len(rewards.appended)
            calls = recorder.calls[state["calls"]:]
            state["calls"] = len(recorder.calls)
            mean = lambda values: sum(values) / len(values) if values else math.nan  # noqa: E731
            writer.writerow({
                "epoch": state["epoch"], "env_steps": (state["epoch"] + 1) * args.steps_per_epoch,
                "episodes": len(rewards.appended[new]),
                "ep_return": mean(rewards.appended[new]), "ep_cost": mean(costs.appended[new]),
                "lagrange_multiplier": row.get("Train/LagragianMultiplier", math.nan),
                "shapo_cosine": mean([c["cosine"] for c in calls]), "shapo_step_frac": mean([c["step_frac"] for c in calls]),
                "shapo_kl": mean([c["kl"] for c in calls]), "fallback": mean([c["fallback"] for c in calls]),
                "logged_ep_return": row.get("Metrics/EpRet", math.nan), "logged_ep_cost": row.get("Metrics/EpCost", math.nan),
                "logged_cosine": row.get("Misc/CosineSimilarity", math.nan), "kl": row.get("Train/KL", math.nan),
                "acceptance_step": row.get("Misc/AcceptanceStep", math.nan),
                "epoch_seconds": row.get("Time/Total", math.nan), "wall_seconds": time.perf_counter() - start,
            })
            metrics.flush()
            print(f"epoch {state['epoch']}: return {row.get('Metrics/EpRet', math.nan):.2f}", file=sys.stderr, flush=True)
            state["epoch"] += 1
            super().dump_tabular()

    trpo_pid.EpochLogger = EpochLogger
    try:
        trpo_pid.main(their_args, cfg_env)
    finally:
        metrics.close()
    for name in ("progress.csv", "config.json"):
        if (log_dir / name).is_file():
            shutil.copy(log_dir / name, out / name)


# --------------------------------------------------------------------------------- compare
@dataclasses.dataclass(frozen=True)
class Run:
    code: str
    arm: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.code}-{self.arm}-seed{self.seed}"


def epochs_done(directory: Path) -> int:
    path = directory / "metrics.csv"
    if not path.is_file():
        return 0
    with open(path, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))


def run_command(run: Run, args: argparse.Namespace, directory: Path) -> list[str]:
    common = ["--steps", str(args.steps), "--steps-per-epoch", str(args.steps_per_epoch), "--seed", str(run.seed)]
    if run.code == "theirs":
        command = [args.authors_python, str(Path(__file__).resolve()), "drive", "--repo", args.authors_repo,
                   "--task", args.task, *common, "--threads", "1", "--out", str(directory)]
        return command + (["--shapo", "--perturbation-kl", str(args.shapo_radius)] if run.arm == "shapo" else [])
    command = [args.shapo_rl, "train", "--algo", "trpo-pid", "--env", args.task, *common, "--cost-limit", "10",
               "--set", "preset=shapo-authors", "--threads", "1", "--out", str(directory), "--force", "--no-progress"]
    return command + (["--shapo", "fisher", "--shapo-radius", str(args.shapo_radius)] if run.arm == "shapo" else [])


def compare(args: argparse.Namespace) -> None:
    if args.steps <= 0 or args.steps % args.steps_per_epoch:
        fail("--steps must be a positive multiple of --steps-per-epoch")
    if "theirs" in args.codes:
        if not args.authors_python or not shutil.which(args.authors_python):
            fail(f"--authors-python {args.authors_python!r}: no such python (the authors' environment, see the docstring)")
        if not args.authors_repo or not (Path(args.authors_repo) / "safepo" / "single_agent" / "trpo_pid.py").is_file():
            fail(f"--authors-repo {args.authors_repo!r}: no safepo/single_agent/trpo_pid.py there")
    if "ours" in args.codes:
        args.shapo_rl = args.shapo_rl or shutil.which("shapo-rl", path=str(Path(sys.executable).parent)) or shutil.which("shapo-rl")
        if not args.shapo_rl:
            fail("no shapo-rl command beside this python; run compare with shapo-rl's own python or pass --shapo-rl")
    out = Path(args.out)
    args.runs = Path(args.runs) if args.runs else out / "runs"
    epochs = args.steps // args.steps_per_epoch
    runs = [Run(code, arm, seed) for seed in args.seeds for arm in args.arms for code in args.codes]
    for run in runs:
        directory = args.runs / run.name
        if epochs_done(directory) >= epochs and (directory / "seconds").is_file():
            continue
        directory.mkdir(parents=True, exist_ok=True)
        command = run_command(run, args, directory / "run" if run.code == "ours" else directory)
        print(f"{run.name}: {' '.join(command)}", flush=True)
        start = time.perf_counter()
        with open(directory / "stderr.log", "w", encoding="utf-8") as log:
            status = subprocess.run(command, stdout=log if run.code == "ours" else subprocess.DEVNULL, stderr=log).returncode
        seconds = time.perf_counter() - start
        if run.code == "ours" and (directory / "run" / "metrics.csv").is_file():
            shutil.copy(directory / "run" / "metrics.csv", directory / "metrics.csv")
        if status != 0:
            tail = (directory / "stderr.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            fail(f"{run.name} exited with {status}: {tail[0]} (log: {directory / 'stderr.log'})", 1)
        (directory / "seconds").write_text(f"{seconds:.1f}\n", encoding="utf-8")
        print(f"{run.name}: {seconds:.0f} s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    report(runs, out, args)


def load(runs: list[Run], root: Path):
    import pandas as pd

    frames = []
    for run in runs:
        frame = pd.read_csv(root / run.name / "metrics.csv")
        if "shapo_fallback" not in frame and "fallback" in frame:
            frame["shapo_fallback"] = frame["fallback"]
        for column in ("shapo_cosine", "shapo_kl", "shapo_fallback"):
            if column not in frame:
                frame[column] = float("nan")
        frame = frame[["epoch", "env_steps", "ep_return", "ep_cost", "lagrange_multiplier", "shapo_cosine", "shapo_kl",
                       "shapo_fallback"]].copy()
        frame.insert(0, "seed", run.seed)
        frame.insert(0, "arm", run.arm)
        frame.insert(0, "code", run.code)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def report(runs: list[Run], out: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    data = load(runs, args.runs)
    data.to_csv(out / "epochs.csv", index=False)
    seconds = {run.name: float((args.runs / run.name / "seconds").read_text()) for run in runs}
    last = data[data["epoch"] == data["epoch"].max()]
    lines = [f"# PID-Lag TRPO on {args.task}: the SHAPO authors' code and shapo-rl", "",
             f"{args.steps:,} steps ({args.steps // args.steps_per_epoch} epochs of {args.steps_per_epoch:,}), seeds "
             f"{', '.join(map(str, args.seeds))}, cost limit 10; SHAPO arm: Fisher perturbation, KL radius "
             f"{args.shapo_radius:g}, critic SAM off. Final = last epoch's episodes; mean ± std over seeds; cosine = "
             "cos(g, g_shapo), mean over all epochs and seeds; fallback = share of updates whose perturbation took "
             "the 0.1 step. Minutes: wall time of each run's process.", *([args.note] if args.note else []), "",
             "| arm | code | final return | final cost | final multiplier | mean cos(g, g_shapo) | mean KL reached | "
             "fallback | minutes per run |", "|---|---|---|---|---|---|---|---|---|"]
    pm = lambda s: f"{s.mean():.2f} ± {s.std(ddof=1) if len(s) > 1 else 0:.2f}"  # noqa: E731
    for arm in args.arms:
        for code in args.codes:
            part, every = last[(last.arm == arm) & (last.code == code)], data[(data.arm == arm) & (data.code == code)]
            shown = lambda column, spec: (format(every[column].mean(), spec)  # noqa: E731
                                          if arm == "shapo" and every[column].notna().any() else "-")
            cosine, kl, fallback = shown("shapo_cosine", ".6f"), shown("shapo_kl", ".2e"), shown("shapo_fallback", ".2f")
            minutes = [seconds[r.name] / 60 for r in runs if r.arm == arm and r.code == code]
            lines.append(f"| {arm} | {code} | {pm(part.ep_return)} | {pm(part.ep_cost)} | {pm(part.lagrange_multiplier)} | "
                         f"{cosine} | {kl} | {fallback} | {min(minutes):.1f}-{max(minutes):.1f} |")
    if set(CODES) <= set(args.codes):
        lines += ["", "Epochs at which our seed mean lies within the range (min to max) of their seeds:", "",
                  "| arm | return | cost | multiplier | epochs outside (return; cost; multiplier) |", "|---|---|---|---|---|"]
        for arm in args.arms:
            cells, outside = [], []
            for column in ("ep_return", "ep_cost", "lagrange_multiplier"):
                theirs = data[(data.arm == arm) & (data.code == "theirs")].groupby("epoch")[column]
                ours = data[(data.arm == arm) & (data.code == "ours")].groupby("epoch")[column].mean()
                inside = (ours >= theirs.min()) & (ours <= theirs.max())
                cells.append(f"{int(inside.sum())} of {len(inside)}")
                outside.append(", ".join(str(e) for e in inside.index[~inside]) or "none")
            lines.append(f"| {arm} | {' | '.join(cells)} | {'; '.join(outside)} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

    panels = (("ep_return", "episode return"), ("ep_cost", "episode cost"), ("lagrange_multiplier", "multiplier"),
              ("shapo_cosine", "cos(g, g_shapo)"))
    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    axes = axes.ravel()
    styles = {"theirs": "--", "ours": "-"}
    colours = {"vanilla": "tab:blue", "shapo": "tab:red"}
    for axis, (column, title) in zip(axes, panels):
        for arm in args.arms if column != "shapo_cosine" else ["shapo"]:
            for code in args.codes:
                part = data[(data.arm == arm) & (data.code == code)].groupby("env_steps")[column]
                mean, std = part.mean(), part.std(ddof=1).fillna(0)
                if mean.isna().all():
                    continue
                axis.plot(mean.index, mean, styles[code], color=colours[arm], label=f"{code}, {arm}")
                axis.fill_between(mean.index, mean - std, mean + std, color=colours[arm], alpha=0.15)
        if column == "ep_cost":
            axis.axhline(10, color="grey", lw=0.8)
        axis.set_title(title)
        axis.set_xlabel("env steps")
        axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        axis.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter(useOffset=False))
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{args.task}, PID-Lag TRPO: mean ± std over seeds {', '.join(map(str, args.seeds))}")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    d = modes.add_parser("drive", help="run the authors' trpo_pid.py (with their python)")
    d.add_argument("--repo", required=True, help="checkout of the authors' code (holds safepo/single_agent)")
    d.add_argument("--task", default="SafetyPointGoal1-v0")
    d.add_argument("--steps", type=int, required=True, help="env steps in all")
    d.add_argument("--steps-per-epoch", type=int, default=20_000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--shapo", action="store_true", help="the SHAPO arm: --use-shapo-actor True")
    d.add_argument("--perturbation-kl", type=float, default=1e-5, help="their --perturbation-target-kl")
    d.add_argument("--cost-limit", type=float, default=10.0)
    d.add_argument("--num-envs", type=int, default=5)
    d.add_argument("--threads", type=int, default=1, help="torch threads (their main asks for 4)")
    d.add_argument("--out", required=True, help="directory for metrics.csv, progress.csv, terminal.log")
    c = modes.add_parser("compare", help="both arms of both codes, then epochs.csv, summary.md, curves.png")
    c.add_argument("--authors-python", help="python of the authors' environment")
    c.add_argument("--authors-repo", help="checkout of the authors' code")
    c.add_argument("--shapo-rl", help="the shapo-rl command (default: the one beside this python)")
    c.add_argument("--task", default="SafetyPointGoal1-v0")
    c.add_argument("--steps", type=int, default=300_000)
    c.add_argument("--steps-per-epoch", type=int, default=20_000)
    c.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    c.add_argument("--shapo-radius", type=float, default=1e-5)
    c.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    c.add_argument("--codes", nargs="+", choices=CODES, default=list(CODES))
    c.add_argument("--note", default="", help="a paragraph for summary.md (e.g. the machine's conditions)")
    c.add_argument("--out", required=True, help="directory for epochs.csv, summary.md, curves.png")
    c.add_argument("--runs", help="directory of the runs (default: OUT/runs); finished runs there are not rerun")
    args = parser.parse_args(argv)
    drive(args) if args.mode == "drive" else compare(args)


if __name__ == "__main__":
    main()
