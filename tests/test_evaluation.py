"""Evaluation and the random-action attack: alpha = 0 is plain evaluation, alpha = 1 a uniform
random policy; summary statistics against numpy; checkpoints named as runs or files."""

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from shapo_rl import keys
from shapo_rl.envs import make_env
from shapo_rl.checkpoints import load_module
from shapo_rl.evaluation import attack_sweep, episode_summary, parse_rates, run_episodes, standard_error
from shapo_rl.evaluation.episodes import episode_quotas

runner = CliRunner()
# The orthogonal init starts the mean action at about 0, whose cost is far from the uniform
# policy's (from PyTorch's init this run's cost lands within 10 standard errors of it, and the
# random-attack test could no longer tell them apart).
TINY = ["--algo", "trpo-lag", "--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10",
        "--set", "model.actor_init=orthogonal", "--no-progress"]


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation") / "run"
    result = runner.invoke(app, ["train", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_alpha_zero_is_plain_evaluation_through_the_cli(run, tmp_path):
    for mode in ("--deterministic", "--stochastic"):
        assert runner.invoke(app, ["evaluate", str(run), "--episodes", "7", "--num-envs", "3", mode]).exit_code == 0
        plain = [(r["return"], r["cost"], r["length"]) for r in _rows(run / "evaluation.csv")]
        result = runner.invoke(app, ["attack", str(run), "--rates", "0,0.5", "--episodes", "7", "--num-envs", "3",
                                     mode, "--out", str(tmp_path / "attack")])
        assert result.exit_code == 0, result.output
        rows = _rows(tmp_path / "attack" / "attack.csv")
        assert rows == _rows(run / "attack.csv")
        attacked = [(r["return"], r["cost"], r["length"]) for r in rows if float(r["alpha"]) == 0.0]
        assert attacked == plain
        assert [(r["return"], r["cost"]) for r in rows if float(r["alpha"]) == 0.5] != [p[:2] for p in plain]
    assert (tmp_path / "attack" / "attack_curves.png").is_file() and (tmp_path / "attack" / "attack_curves.pdf").is_file()


def _random_policy_episodes(episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Episodes of ToyCMDP under actions drawn uniformly from the action box, independently."""
    env = make_env("ToyCMDP-v0", num_envs=10, seed=seed, normalize_obs=False)
    torch.manual_seed(seed)
    returns, costs = [], []
    td = env.reset()
    while len(returns) < episodes:
        td[keys.ACTION] = env.action_spec.rand()
        td, td_next = env.step_and_maybe_reset(td)
        done = td["next", keys.DONE].squeeze(-1)
        returns += td["next", keys.EPISODE_RETURN].squeeze(-1)[done].tolist()
        costs += td["next", keys.EPISODE_COST].squeeze(-1)[done].tolist()
        td = td_next
    env.close()
    return np.array(returns), np.array(costs)


def test_alpha_one_is_a_uniform_random_policy(run):
    module = load_module(run / "checkpoints" / "last.ckpt")
    rows = attack_sweep(module, [0.0, 1.0], episodes=600, seed=5, num_envs=20)
    random_returns, random_costs = _random_policy_episodes(600, seed=77)
    for name, reference in (("return", random_returns), ("cost", random_costs)):
        attacked = np.array([r[name] for r in rows if r["alpha"] == 1.0])
        error = np.hypot(standard_error(attacked), standard_error(reference))
        assert abs(attacked.mean() - reference.mean()) < 2 * error, name
    # the trained policy's cost is far from the random policy's, so the comparison can fail
    assert abs(np.array([r["cost"] for r in rows if r["alpha"] == 0.0]).mean() - random_costs.mean()) > 10 * error


def test_summary_statistics_against_numpy():
    rng = np.random.default_rng(0)
    returns, costs, lengths = rng.normal(5, 2, 37), rng.exponential(20, 37), rng.integers(1, 1000, 37)
    s = episode_summary(torch.tensor(returns), torch.tensor(costs), torch.tensor(lengths), cost_limit=25.0)
    assert s["episodes"] == 37
    assert s["return_mean"] == pytest.approx(returns.mean()) and s["cost_mean"] == pytest.approx(costs.mean())
    assert s["return_std"] == pytest.approx(returns.std(ddof=1))
    assert s["cost_sem"] == pytest.approx(costs.std(ddof=1) / np.sqrt(37))
    for q in (90, 95, 99):
        assert s[f"cost_p{q}"] == pytest.approx(np.percentile(costs, q))
    assert s["violation_rate"] == pytest.approx(np.mean(costs > 25.0))
    assert episode_summary([1.0], np.arange(101.0), [1], cost_limit=98.5)["cost_p99"] == 99.0


def test_each_env_contributes_its_first_episodes():
    assert episode_quotas(10, 4) == [3, 3, 2, 2] and sum(episode_quotas(7, 7)) == 7


def test_evaluation_plays_exactly_the_asked_episodes_reproducibly(run):
    module = load_module(run / "checkpoints" / "last.ckpt")
    a = run_episodes(module, episodes=5, seed=3, num_envs=2, deterministic=False)
    b = run_episodes(module, episodes=5, seed=3, num_envs=2, deterministic=False)
    assert a.returns.numel() == 5 and torch.equal(a.returns, b.returns) and torch.equal(a.costs, b.costs)


def test_episodes_run_on_one_torch_thread_and_restore_the_callers(run, monkeypatch):
    module = load_module(run / "checkpoints" / "last.ckpt")
    seen = []
    make_policy = module.make_collection_policy

    def recording_policy():
        policy = make_policy()

        def call(td):
            seen.append(torch.get_num_threads())
            return policy(td)
        return call

    monkeypatch.setattr(module, "make_collection_policy", recording_policy)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        run_episodes(module, episodes=2, seed=3, num_envs=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert seen and set(seen) == {1}


def test_a_checkpoint_file_can_be_evaluated(run):
    result = runner.invoke(app, ["evaluate", str(run / "checkpoints" / "epoch0001.ckpt"), "--episodes", "3"])
    assert result.exit_code == 0, result.output
    rows = _rows(run / "evaluation.csv")
    assert len(rows) == 3 and {r["checkpoint"] for r in rows} == {"epoch0001.ckpt"}
    assert {int(r["env_steps"]) for r in rows} == {400}
    # piped (not a terminal): a title, a header and one plain line per checkpoint, nothing cut
    lines = result.stdout.splitlines()
    assert lines[0].startswith("3 deterministic episodes per checkpoint") and lines[1].split()[:3] == ["run", "steps", "return"]
    assert len(lines) == 3 and lines[2].split()[:2] == ["run/epoch0001", "400"]
    assert not set("┃│…") & set(result.stdout)


@pytest.mark.parametrize("text,expected", [("0:1:0.25", [0, 0.25, 0.5, 0.75, 1]), ("0:1:0.1", [i / 10 for i in range(11)]),
                                           ("0.3", [0.3]), ("0,1", [0, 1])])
def test_rates(text, expected):
    assert parse_rates(text) == pytest.approx(expected)


@pytest.mark.parametrize("args,message", [
    (["attack", "{run}", "--rates", "0:2:0.5"], "must lie in [0, 1]"),
    (["attack", "{run}", "--rates", "a:b"], "expected start:stop:step"),
    (["evaluate", "{run}/nothing"], "neither a run directory nor a checkpoint file"),
    (["evaluate", "{run}", "--video", "{run}/video"], "ToyCMDP-v0 has no renderer"),
    (["report", "{run}/checkpoints"], "is not a run directory"),
])
def test_user_mistakes_are_one_line(run, args, message):
    result = runner.invoke(app, [a.format(run=run) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
