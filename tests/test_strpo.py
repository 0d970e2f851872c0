"""sTRPO end to end on ToyCMDP: the unsafe policy (unsafe-trpo / unsafe-dtrpo) from the CLI, strpo
loading it frozen, its ablation switches, one-line errors for an unsafe policy that does not fit,
the phi = 0 ablation against trpo-pid bit for bit, and learning."""

import csv

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.algorithms import apply_settings
from shapo_rl.config import CriticConfig, TrainConfig
from shapo_rl.envs import toy_cmdp_optimum
from shapo_rl.training import train

runner = CliRunner()
TINY = ["--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10", "--no-progress",
        "--set", "critic.update_iters=2"]
TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}


def _rows(run):
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def _state(run):
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.parametrize("unsafe_algo", ["unsafe-trpo", "unsafe-dtrpo"])
def test_train_unsafe_then_strpo_then_evaluate(tmp_path, unsafe_algo):
    unsafe = tmp_path / "unsafe"
    result = runner.invoke(app, ["train", "--algo", unsafe_algo, *TINY, "--out", str(unsafe)])
    assert result.exit_code == 0, result.output
    if unsafe_algo == "unsafe-dtrpo":
        assert all(float(r["quantile_critic_loss"]) > 0 for r in _rows(unsafe))
        assert any(k.startswith("algorithm.cost_critic.") for k in _state(unsafe))
    out = tmp_path / "strpo"
    result = runner.invoke(app, ["train", "--algo", "strpo", *TINY, "--out", str(out), "--unsafe-policy", str(unsafe)])
    assert result.exit_code == 0, result.output
    for row in _rows(out):
        assert float(row["kl"]) <= 0.01
        assert float(row["fallback"]) in (0.0, 1.0) and 0 <= float(row["ratio_clip_rate"]) <= 1
        if float(row["fallback"]) == 0.0 and float(row["trust_region_accepted"]) == 1.0:
            assert float(row["exclusion_margin"]) >= 1e-4
        assert float(row["lagrange_multiplier"]) >= 0
    # the unsafe policy travels frozen: its weights and normaliser statistics are the unsafe run's
    unsafe_state, state = _state(unsafe), _state(out)
    for key, value in unsafe_state.items():
        if key.startswith(("policy.", "obs_normalizer.")):
            assert torch.equal(state[f"algorithm.unsafe_{key.replace('obs_', '')}"], value), key
    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "2"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("switches", [
    ["trust_region.max_kl=1e-3", "exclusion_margin=1e-3"],
    ["trust_region.max_kl=1e-4", "exclusion_margin=1e-4"],
    ["exclusion_weight=0.01"],
    ["joint_advantage=false"],
    ["unsafe_objective=false"],
], ids=["delta-1e-3", "delta-1e-4", "lambda2-0.01", "no-joint-advantage", "no-unsafe-objective"])
def test_each_ablation_switch_runs(tmp_path, unsafe_run, switches):
    out = tmp_path / "run"
    sets = [arg for switch in switches for arg in ("--set", switch)]
    result = runner.invoke(app, ["train", "--algo", "strpo", *TINY, "--out", str(out), "--unsafe-policy",
                                 str(unsafe_run), *sets])
    assert result.exit_code == 0, result.output
    max_kl = float(switches[0].split("=")[1]) if "max_kl" in switches[0] else 1e-2
    assert all(float(r["kl"]) <= max_kl for r in _rows(out))


def _corrupt(tmp_path, unsafe_run):
    path = tmp_path / "corrupt.ckpt"
    path.write_bytes(b"not a checkpoint")
    return path


def _other_task(tmp_path, unsafe_run):
    checkpoint = torch.load(unsafe_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["shapo_rl"]["config"]["env"] = "SafetyHopperVelocity-v1"
    torch.save(checkpoint, tmp_path / "other.ckpt")
    return tmp_path / "other.ckpt"


def _other_dims(tmp_path, unsafe_run):
    checkpoint = torch.load(unsafe_run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["state_dict"]["policy.log_std"] = torch.zeros(3)
    torch.save(checkpoint, tmp_path / "dims.ckpt")
    return tmp_path / "dims.ckpt"


@pytest.mark.parametrize("make,message", [
    (_corrupt, "is not a readable checkpoint"),
    (_other_task, "was trained on SafetyHopperVelocity-v1, not ToyCMDP-v0"),
    (_other_dims, "has observation/action dims 2/3, the task 2/1"),
    (lambda tmp_path, run: tmp_path / "missing", "is neither a run directory nor a checkpoint file"),
    (None, "strpo needs an unsafe policy"),
])
def test_an_unsafe_policy_that_does_not_fit_is_one_line(tmp_path, unsafe_run, make, message):
    extra = [] if make is None else ["--unsafe-policy", str(make(tmp_path, unsafe_run))]
    result = runner.invoke(app, ["train", "--algo", "strpo", *TINY, "--out", str(tmp_path / "run"), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing written


def _tiny(tmp_path, name, algo, settings):
    config = apply_settings(TrainConfig(algo=algo, env="ToyCMDP-v0", steps=600, steps_per_epoch=200, num_envs=10,
                                        critic=CriticConfig(update_iters=2)), settings)
    run = train(config, tmp_path / name, progress=False)
    return _rows(run), {k: v for k, v in _state(run).items() if k.startswith(("policy.", "critics."))}


def test_without_the_unsafe_objective_it_is_trpo_pid_bit_for_bit(tmp_path):
    """phi = 0 leaves TRPO's step on the joint advantage. With the multiplier held at 0 (gains 0,
    init 0) both advantages are z(A_r), so three epochs of strpo and trpo-pid agree exactly."""
    pid = {"pid.kp": 0.0, "pid.ki": 0.0, "pid.kd": 0.0, "pid.init": 0.0}
    rows, state = _tiny(tmp_path, "strpo", "strpo", {"unsafe_objective": False, **pid})
    base_rows, base_state = _tiny(tmp_path, "pid", "trpo-pid", pid)
    extra = {"exclusion_margin", "fallback", "ratio_clip_rate"}
    assert [{k: v for k, v in r.items() if k not in TIMING | extra} for r in rows] == \
           [{k: v for k, v in r.items() if k not in TIMING} for r in base_rows]
    assert state.keys() == base_state.keys() and all(torch.equal(state[k], base_state[k]) for k in state)


EPOCHS, LAST = 30, 10  # 30 epochs of 1,000 steps; judge the mean of the last 10
START_LOG_STD = -0.5  # sigma 0.61 at the start, as tests/test_learning.py (ToyCMDP's cost contains sigma^2)


def _learn(path, algo, settings):
    config = apply_settings(TrainConfig(algo=algo, env="ToyCMDP-v0", steps=EPOCHS * 1000, steps_per_epoch=1000,
                                        num_envs=50, critic=CriticConfig(update_iters=5)),
                            {"model.init_log_std": START_LOG_STD, **settings})
    return _rows(train(config, path, progress=False))


def _mean(rows, column):
    return sum(float(r[column]) for r in rows[-LAST:]) / LAST


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """unsafe-trpo, then strpo from it and trpo-lag from the same seed (PID ki 0.05 and Lagrange SGD
    lr 0.05, the settings of tests/test_learning.py)."""
    root = tmp_path_factory.mktemp("learning")
    unsafe = _learn(root / "unsafe", "unsafe-trpo", {})
    strpo = _learn(root / "strpo", "strpo", {"unsafe_policy": str(root / "unsafe"), "pid.ki": 0.05})
    lag = _learn(root / "lag", "trpo-lag", {"lagrange.optimizer": "sgd", "lagrange.lr": 0.05})
    return unsafe, strpo, lag


def test_unsafe_policy_learns_and_strpo_from_it_costs_less_than_trpo_lag(learned):
    """unsafe-trpo reaches the cost-maximising action (a = 1: cost 80 per episode); strpo's total
    cost over training stays below trpo-lag's, and every step it took forwards kept the exclusion
    margin phi^T (theta_new - theta_k) >= delta_2."""
    unsafe, strpo, lag = learned
    assert _mean(unsafe, "ep_cost") >= 0.9 * 80
    assert float(strpo[-1]["total_cost"]) < float(lag[-1]["total_cost"])
    forward = [r for r in strpo if r["fallback"] == "0.0" and r["trust_region_accepted"] == "1.0"]
    assert forward and all(float(r["exclusion_margin"]) >= 1e-4 for r in forward)


def test_strpo_reaches_the_constrained_optimum(learned):
    """Measured: return 20.3 and cost 21.1 over the last 10 of 30 epochs (the optimum's 20 and 20),
    no fallback. With the reversed fallback of eq. 10 taken literally and lambda_2 weighing the
    unscaled phi, it ended at 16.5 and 15.0, moving away from pi_unsafe at every step."""
    _, strpo, _ = learned
    best_return, best_cost, _ = toy_cmdp_optimum(20.0)
    assert _mean(strpo, "ep_return") == pytest.approx(best_return, rel=0.10)
    assert _mean(strpo, "ep_cost") == pytest.approx(best_cost, rel=0.10)
