"""The CLI in-process: every command with tiny budgets, and one-line errors for user mistakes."""

import csv
import subprocess
import sys

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
    # Each of the 10 envs plays exactly one 20-step episode per 200-step epoch, so an epoch's cost
    # is its 10 episodes' costs: the counters of the rollout and of the episodes must agree.
    for previous, row in zip([{"total_cost": "0"}, *rows], rows):
        epoch_cost = float(row["total_cost"]) - float(previous["total_cost"])
        assert epoch_cost == pytest.approx(10 * float(row["ep_cost"]), rel=1e-5)
        assert float(row["ep_cost"]) > 0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["cost_limit"] == 15.0 and config["algo"] == "trpo-lag"
    assert (out / "checkpoints" / "last.ckpt").is_file()

    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "4"])
    assert result.exit_code == 0, result.output
    episodes = _rows(out / "evaluation.csv")
    assert len(episodes) == 4
    assert {float(e["length"]) for e in episodes} == {20.0}  # ToyCMDP episodes are truncated at 20 steps


@pytest.mark.parametrize("variant", [[], ["--shapo", "fisher", "--critic-sam"]], ids=["vanilla", "shapo"])
@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
def test_every_algorithm_trains_and_evaluates(tmp_path, needs, algo, variant):
    out = tmp_path / "run"
    settings = [f"--set={key}={value}" for key, value in needs(algo).items()]
    result = _train("--algo", algo, *TINY, "--out", str(out), "--set", "critic.update_iters=2", *settings, *variant)
    assert result.exit_code == 0, result.output
    rows = _rows(out / "metrics.csv")
    assert [int(r["env_steps"]) for r in rows] == [200, 400]
    assert all(float(r["kl"]) <= 0.05 for r in rows)
    if variant:
        assert all(float(r["shapo_kl"]) <= 1e-5 * (1 + 1e-6) for r in rows)
    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "2"])
    assert result.exit_code == 0, result.output
    episodes = _rows(out / "evaluation.csv")
    assert len(episodes) == 2 and all(float(e["length"]) == 20.0 for e in episodes)


def test_shapo_switches_reach_the_run(tmp_path):
    out = tmp_path / "run"
    result = _train("--algo", "ppo-lag", *TINY, "--out", str(out), "--shapo", "fisher", "--shapo-radius", "1e-3",
                    "--shapo-schedule", "percentile", "--shapo-percentile", "0.1", "--critic-sam",
                    "--critic-sam-rho", "0.02", "--critic-sam-on", "cost")
    assert result.exit_code == 0, result.output
    shapo = yaml.safe_load((out / "config.yaml").read_text())["shapo"]
    assert shapo == {"geometry": "fisher", "radius": 1e-3, "schedule": "percentile", "percentile": 0.1,
                     "cg_iters": 15, "damping": 0.1, "fallback": "zero", "critic_sam": True, "critic_sam_rho": 0.02,
                     "critic_sam_on": "cost"}
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
    (["--algo", "trpo-lag", *TINY, "--seed", "-1"], "--seed must lie in [0, 2^32)"),
    (["--algo", "trpo-lag", *TINY, "--cost-limit", "inf"], "--cost-limit must be >= 0 and finite"),
    (["--algo", "trpo-lag", *TINY, "--cost-limit", "nan"], "--cost-limit must be >= 0 and finite"),
    (["--algo", "trpo-pid", *TINY, "--set", "pid.kpp=0.05"], "unknown setting 'algorithm.pid.kpp'; did you mean algorithm.pid.kp"),
    (["--algo", "trpo-lag", *TINY, "--set", "trust_region.max_kl=-1"], "max_kl must be > 0"),
    (["--algo", "trpo-lag", *TINY, "--set", "trust_region.cg_iters=2.5"], "cg_iters must be an integer"),
    (["--algo", "trpo-lag", *TINY, "--set", "multiplier=pidd"], "multiplier must be one of none, lagrange, pid"),
    (["--algo", "trpo-lag", *TINY, "--set", "critic.lr"], "--set expects KEY=VALUE"),
    (["--algo", "ppo-lag", *TINY, "--set", "trust_region.max_kl=0.02"], "unknown setting 'algorithm.trust_region.max_kl'"),
    (["--algo", "cpo", *TINY, "--set", "model.hidden_sizes=[64, 0]"], "hidden sizes must be positive"),
    (["--algo", "trpo-lag", *TINY, "--set", "env_backend=faster"], "env_backend must be fast or stock"),
    (["--algo", "trpo-lag", *TINY, "--set", "physics_threads=-1"], "physics_threads must be >= 0"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    result = _train(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing written


def test_unwritable_output_directory_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for out in ("/proc/shapo-rl-run", str(blocker / "run")):
        result = _train("--algo", "trpo-lag", *TINY, "--out", out)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: cannot write the run directory")
        assert len(result.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "not a directory"


# `shapo-rl` in a process where safety_gymnasium cannot be imported (as after a plain `pip install .`).
WITHOUT_SAFETY_GYMNASIUM = """
import sys
from importlib.machinery import PathFinder

class WithoutSafetyGymnasium(PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        return None if name.partition(".")[0] == "safety_gymnasium" else super().find_spec(name, path, target)

sys.meta_path[sys.meta_path.index(PathFinder)] = WithoutSafetyGymnasium
from cli.app import main
main()
"""


def test_missing_safety_gymnasium_is_one_line_saying_how_to_install_it(tmp_path):
    result = subprocess.run([sys.executable, "-c", WITHOUT_SAFETY_GYMNASIUM, "train", "--algo", "trpo-lag",
                             "--env", "SafetyPointGoal1-v0", "--steps", "2000", "--steps-per-epoch", "1000",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: safety-gymnasium is not installed: "
                                    "pip install --no-deps safety-gymnasium==1.0.0"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_set_reaches_run_and_algorithm_settings_and_config_yaml_records_them(tmp_path):
    out = tmp_path / "run"
    result = _train("--algo", "trpo-pid", *TINY, "--out", str(out), "--set", "pid.kp=0.05",
                    "--set", "trust_region.max_kl=2e-2", "--set", "critic.update_iters=3", "--set", "gae_lambda=0.9",
                    "--set", "model.hidden_sizes=[16, 16]")
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["algorithm"]["pid"]["kp"] == 0.05 and config["algorithm"]["pid"]["ki"] == 0.01
    assert config["algorithm"]["multiplier"] == "pid"
    assert config["algorithm"]["trust_region"]["max_kl"] == 0.02
    assert config["critic"]["update_iters"] == 3 and config["gae_lambda"] == 0.9
    assert config["model"]["hidden_sizes"] == [16, 16]
    assert max(float(r["kl"]) for r in _rows(out / "metrics.csv")) <= 0.02


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


@pytest.mark.parametrize("target_kl,iterations", [(1e-9, 1), (1e9, 3)])
def test_ppo_stops_its_epochs_once_the_kl_passes_the_target(tmp_path, target_kl, iterations):
    out = tmp_path / "run"
    result = _train("--algo", "ppo-lag", *TINY, "--out", str(out), "--set", "clip.update_iters=3",
                    "--set", f"clip.target_kl={target_kl}")
    assert result.exit_code == 0, result.output
    assert [float(r["actor_iterations"]) for r in _rows(out / "metrics.csv")] == [iterations, iterations]
