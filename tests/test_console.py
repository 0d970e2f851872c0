"""What a user sees: a normal run prints no third-party warnings or tips (piped, its progress is
one plain line per epoch; also with Slurm's srun on PATH, as on a cluster node), --quiet prints nothing,
and Lightning loggers get every metrics.csv column."""

import csv
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app

TINY = ["--algo", "trpo-lag", "--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10",
        "--set", "critic.update_iters=1"]


SRUN_ON_PATH = {**os.environ, "PATH": f"{Path(__file__).parent / 'fake_slurm'}{os.pathsep}{os.environ['PATH']}"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.app", "train", *args], capture_output=True, text=True,
                          timeout=300, env=SRUN_ON_PATH)


def test_a_normal_run_prints_no_warnings_and_quiet_prints_nothing(tmp_path):
    result = _cli(*TINY, "--out", str(tmp_path / "run"))  # piped: the progress is one plain line per epoch
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    *epochs, last = result.stdout.strip().splitlines()
    assert [line.split("  ")[:2] for line in epochs] == [["trpo-lag on ToyCMDP-v0", "200/400 steps"],
                                                          ["trpo-lag on ToyCMDP-v0", "400/400 steps"]]
    assert all(" return " in line and " cost " in line for line in epochs)
    assert last == f"run written to {tmp_path / 'run'}"
    result = _cli(*TINY, "--quiet", "--out", str(tmp_path / "quiet"))
    assert result.returncode == 0 and result.stderr == "" and result.stdout == ""


def test_loggers_see_every_metrics_column(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", *TINY, "--no-progress", "--out", str(out), "--logger", "tensorboard",
                                      "--logger", "csv"])
    assert result.exit_code == 0, result.output
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(rows[0])
    kl = events.Scalars("kl")
    assert [e.step for e in kl] == [int(r["env_steps"]) for r in rows]
    assert all(abs(e.value - float(r["kl"])) <= 1e-6 * abs(float(r["kl"])) for e, r in zip(kl, rows))
    with (out / "lightning_csv" / "metrics.csv").open() as f:
        assert {k for row in csv.DictReader(f) for k, v in row.items() if v} >= set(rows[0]) - {"epoch"}


def test_unknown_or_missing_logger_is_one_line_and_writes_nothing(tmp_path):
    for name, message in (("tensorbored", "unknown logger 'tensorbored'"), ("wandb", "needs the wandb package")):
        result = CliRunner().invoke(app, ["train", *TINY, "--out", str(tmp_path / "run"), "--logger", name])
        assert result.exit_code == 2 and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "run").exists()


def test_importing_the_simulators_prints_nothing():
    """gymnasium-robotics 1.2.2 prints an Adroit notice at import, which gymnasium triggers as a
    plugin: the package drops it before any gymnasium import."""
    code = ("import shapo_rl, gymnasium, gymnasium_robotics; "
            "from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium; import_safety_gymnasium()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
