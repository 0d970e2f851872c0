"""Trust: identical metrics for identical seeds, exact continuation after SIGKILL, NaN guard."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.config import CriticConfig, TrainConfig
from shapo_rl.envs import toy
from shapo_rl.training import train

TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}
ARGS = ["--algo", "ppo-lag", "--env", "ToyCMDP-v0", "--steps-per-epoch", "4000", "--num-envs", "20",
        "--no-progress"]


def _metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _tiny(seed: int) -> TrainConfig:
    return TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=600, steps_per_epoch=200, num_envs=4, seed=seed,
                       critic=CriticConfig(update_iters=2))


def test_same_seed_same_metrics_and_different_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        train(_tiny(seed), tmp_path / name, progress=False)
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert _metrics(tmp_path / "a") != _metrics(tmp_path / "c")


def _cli(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from cli.app import main; main()", "train", *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    steps = ["--steps", "20000"]
    reference = _cli(*ARGS, *steps, "--out", str(tmp_path / "reference"))
    killed = _cli(*ARGS, *steps, "--out", str(tmp_path / "killed"))
    metrics = tmp_path / "killed" / "metrics.csv"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):  # header + 2 epochs
        assert killed.poll() is None and time.monotonic() < deadline, killed.stderr.read()
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch's rollout
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    done = len(_metrics(tmp_path / "killed"))
    assert done < 5, "the run finished before it could be killed"

    resumed = _cli("--resume", str(tmp_path / "killed"))
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert [int(r["epoch"]) for r in _metrics(tmp_path / "killed")] == [0, 1, 2, 3, 4]
    assert _metrics(tmp_path / "killed") == _metrics(tmp_path / "reference")


def test_nan_in_observations_stops_with_one_line_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    # ToyCMDP draws one observation per reset and per step: with 10 envs and 200-step epochs,
    # epoch 0 uses 22 draws (collector start, epoch reset, 20 steps); NaN from draw 26 on.
    original, draws = toy.ToyCMDP._observation, []

    def observation(self):
        draws.append(1)
        return original(self) * (torch.nan if len(draws) >= 26 else 1.0)

    monkeypatch.setattr(toy.ToyCMDP, "_observation", observation)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--algo", "trpo-lag", "--env", "ToyCMDP-v0", "--steps", "600",
                                      "--steps-per-epoch", "200", "--num-envs", "10", "--no-progress",
                                      "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: non-finite values in observations"
    assert [row["epoch"] for row in _metrics(out)] == ["0"]
    checkpoint = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values()
               if isinstance(v, torch.Tensor) and v.is_floating_point())


@pytest.mark.parametrize("content", [b"garbage", None])
def test_resume_refuses_corrupt_or_foreign_checkpoint(tmp_path, content):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--algo", "trpo", "--env", "ToyCMDP-v0", "--steps", "200", "--steps-per-epoch", "200",
            "--num-envs", "10", "--no-progress", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    checkpoint = out / "checkpoints" / "last.ckpt"
    if content is None:
        torch.save({"state_dict": {}, "epoch": 3}, checkpoint)  # a checkpoint of some other program
    else:
        checkpoint.write_bytes(content)
    result = runner.invoke(app, ["train", "--resume", str(out)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "checkpoint" in result.stderr


def test_resume_refuses_a_process_count_that_cannot_share_the_saved_epoch(tmp_path):
    """The saved run has 200-step epochs on 10 envs; three processes cannot share them equally.
    The refusal is one line, before Lightning starts, and leaves the run's files as they were."""
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--algo", "trpo", "--env", "ToyCMDP-v0", "--steps", "200", "--steps-per-epoch", "200",
            "--num-envs", "10", "--no-progress", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["train", "--resume", str(out), "--accelerator", "cpu", "--devices", "3"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "times the number of processes (3)" in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
