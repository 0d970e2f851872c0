"""Record short seeded runs of the ported algorithms as regression data.

``python -m tests.regression.record`` trains every run of :data:`RUNS` through the command line
and stores, per run, its arguments, its metrics.csv rows (timing columns aside) and its final
actor and critic weights in ``tests/regression/data/<name>.pt`` (plain tensors and strings, read
back with ``weights_only=True``). ``test_regression.py`` repeats the runs and requires them to be
identical. Re-record only deliberately (a change of a default that changes learning), and say why
in the commit: the data pin the behaviour of the code that recorded them, on the CPU family that
recorded them (:func:`cpu_family`, stored with each record): torch's CPU kernels pick their
vector code by processor, and float32 results differ in their last bits from one family to
another, so elsewhere the test can only require closeness.
"""

from __future__ import annotations

import csv
import platform
import sys
import tempfile
from pathlib import Path

import torch
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.checkpoint_io import read_checkpoint

DATA = Path(__file__).parent / "data"
TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}
TASKS = {
    "toy": ["--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10"],
    "hopper": ["--env", "SafetyHopperVelocity-v1", "--steps", "1000", "--steps-per-epoch", "500", "--num-envs", "2"],
}
VARIANTS = {"vanilla": [], "shapo": ["--shapo", "fisher", "--critic-sam"]}
ALGOS = ("trpo", "trpo-lag", "ppo", "ppo-lag")
RUNS = {f"{algo}-{task}-{variant}": ["--algo", algo, *TASKS[task], *VARIANTS[variant], "--seed", "1",
                                     "--cost-limit", "10"]
        for algo in ALGOS for task in TASKS for variant in VARIANTS}


def cpu_family() -> str:
    """The processor as float kernels see it: vendor, family and model numbers, and the vector
    instruction set torch dispatches to."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        fields["model name"] = platform.processor()
    parts = [fields.get(k, "?") for k in ("vendor_id", "cpu family", "model", "model name")]
    return " / ".join([*parts, torch.backends.cpu.get_cpu_capability()])


def train_run(args: list[str], out: Path) -> dict:
    """Train one run through the CLI; return its metrics rows and actor/critic tensors."""
    result = CliRunner().invoke(app, ["train", *args, "--out", str(out), "--no-progress"])
    if result.exit_code != 0:
        raise RuntimeError(f"{args} failed: {result.output}")
    with (out / "metrics.csv").open() as f:
        rows = [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    state = read_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    weights = {k: v for k, v in state.items() if k.startswith(("policy.", "critics."))}
    return {"metrics": rows, "weights": weights}


def main(names: list[str]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    for name in names or RUNS:
        with tempfile.TemporaryDirectory() as tmp:
            record = train_run(RUNS[name], Path(tmp) / "run")
        torch.save({"args": RUNS[name], "cpu": cpu_family(), **record}, DATA / f"{name}.pt")
        print(f"recorded {name}: {len(record['metrics'])} epochs, {len(record['weights'])} tensors")


if __name__ == "__main__":
    main(sys.argv[1:])
