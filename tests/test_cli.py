"""The CLI in-process: every command with tiny budgets, and one-line errors for user mistakes."""

import csv

import pytest
import yaml
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.algorithms import ALGORITHMS
from shapo_rl.envs import TASKS

runner = CliRunner()
TINY = ["--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10", "--no-progress"]


def _train(*args):
    return runner.invoke(app, ["train", *args])


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("what,names", [("algos", ALGORITHMS), ("envs", TASKS)])
def test_list_shows_every_registered_name(what, names):
    result = runner.invoke(app, ["list", what], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in names:
        assert name in result.stdout


def test_train_then_evaluate_writes_run_directory(tmp_path):
    out = tmp_path / "run"
    result = _train("--algo", "trpo-lag", *TINY, "--cost-limit", "15", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = _rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert [int(r["env_steps"]) for r in rows] == [200, 400]
    for column in ("ep_return", "ep_cost", "ep_length", "cost_rate", "total_cost", "lagrange_multiplier", "kl",
                   "epoch_seconds"):
        assert column in rows[0]
    assert float(rows[1]["total_cost"]) == pytest.approx(float(rows[1]["cost_rate"]) * 400, rel=1e-6)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["cost_limit"] == 15.0 and config["algo"] == "trpo-lag"
    assert (out / "checkpoints" / "last.ckpt").is_file()

    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "4"])
    assert result.exit_code == 0, result.output
    episodes = _rows(out / "evaluation.csv")
    assert len(episodes) == 4
    assert {float(e["length"]) for e in episodes} == {20.0}  # ToyCMDP episodes are truncated at 20 steps


def test_shapo_switches_reach_the_run(tmp_path):
    out = tmp_path / "run"
    result = _train("--algo", "ppo-lag", *TINY, "--out", str(out), "--shapo", "fisher", "--shapo-radius", "1e-3",
                    "--shapo-schedule", "percentile", "--shapo-percentile", "0.1", "--critic-sam",
                    "--critic-sam-rho", "0.02", "--critic-sam-on", "cost")
    assert result.exit_code == 0, result.output
    shapo = yaml.safe_load((out / "config.yaml").read_text())["shapo"]
    assert shapo == {"geometry": "fisher", "radius": 1e-3, "schedule": "percentile", "percentile": 0.1,
                     "critic_sam": True, "critic_sam_rho": 0.02, "critic_sam_on": "cost"}
    rows = _rows(out / "metrics.csv")
    # percentile schedule: delta_t = z_p^2 / (2 N_t) with N_t the pairs collected so far
    assert float(rows[1]["shapo_radius"]) == pytest.approx(1.2815515655446004**2 / (2 * 400), rel=1e-9)
    assert float(rows[1]["shapo_percentile"]) == pytest.approx(0.1, rel=1e-9)
    assert float(rows[1]["shapo_norm"]) > 0


@pytest.mark.parametrize("args,message", [
    (["--algo", "trpo-lagg", *TINY], "did you mean trpo-lag"),
    (["--algo", "trpo-lag", *TINY[:1], "SafetyPointGoal-v0", *TINY[2:]], "SafetyPointGoal1-v0"),
    (["--algo", "trpo-lag", *TINY, "--cost-limit", "-1"], "--cost-limit must be >= 0"),
    (["--algo", "trpo-lag", *TINY, "--num-envs", "7"], "must be a multiple of --num-envs"),
    (["--algo", "trpo-lag", *TINY, "--steps", "500"], "must be a positive multiple of --steps-per-epoch"),
    (["--algo", "trpo-lag", *TINY, "--accelerator", "cpu", "--devices", "3"], "times the number of processes (3)"),
    (["--algo", "trpo-lag", *TINY, "--devices", "0"], "--devices must be a positive count or 'auto'"),
    (["--algo", "trpo-lag", *TINY, "--devices", "auto", "--accelerator", "tpuu"], "unknown accelerator 'tpuu'"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    result = _train(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_existing_run_is_refused_without_force_and_left_intact(tmp_path):
    out = tmp_path / "run"
    assert _train("--algo", "trpo", *TINY, "--out", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = _train("--algo", "ppo", *TINY, "--out", str(out))
    assert result.exit_code == 2 and "--resume" in result.stderr and "--force" in result.stderr
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    assert _train("--algo", "trpo", *TINY, "--out", str(out)).exit_code == 0
    (out / "checkpoints" / "last.ckpt").write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 2
    assert "not a readable checkpoint" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
