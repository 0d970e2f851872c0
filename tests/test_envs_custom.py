"""A user's own CMDP as ``module:callable`` (issue 13): the README example trains and evaluates
through the CLI, both cost conventions are read, and each breach of the contract is refused in
one line that names what is missing."""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from shapo_rl import keys
from shapo_rl.envs import EnvContractError, UnknownTaskError, UnsupportedTaskError, get_task, make_env

EXAMPLE = "examples.custom_cmdp:make_env"
ROOT = Path(__file__).resolve().parent.parent

BROKEN = textwrap.dedent('''
    import gymnasium
    import numpy as np

    class Line(gymnasium.Env):
        def __init__(self, obs_shape=(2,), discrete=False, cost="info"):
            self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, obs_shape)
            self.action_space = gymnasium.spaces.Discrete(2) if discrete else gymnasium.spaces.Box(-1.0, 1.0, (1,))
            self.cost = cost

        def reset(self, *, seed=None, options=None):
            return np.zeros(self.observation_space.shape, np.float32), {}

        def step(self, action):
            obs = np.zeros(self.observation_space.shape, np.float32)
            if self.cost == "tuple":
                return obs, 1.0, 0.5, False, False, {}
            return obs, 1.0, False, False, ({"cost": 0.5} if self.cost == "info" else {})

    six_tuple = lambda: Line(cost="tuple")
    no_cost = lambda: Line(cost=None)
    vision = lambda: Line(obs_shape=(8, 8, 3))
    discrete = lambda: Line(discrete=True)
    not_an_env = lambda: object()
''')


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_cmdp.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_cmdp"


def test_readme_shows_the_example_verbatim() -> None:
    example = (ROOT / "examples" / "custom_cmdp.py").read_text()
    assert example.strip() in (ROOT / "README.md").read_text()


def test_custom_env_trains_and_evaluates(tmp_path) -> None:
    spec = get_task(EXAMPLE)
    assert (spec.family, spec.max_episode_steps, spec.cost_limit) == ("custom", 100, 25.0)
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--algo", "ppo-lag", "--env", EXAMPLE, "--steps", "400", "--steps-per-epoch",
                                 "200", "--cost-limit", "5", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["env_steps"]) for r in rows] == [200, 400] and float(rows[-1]["ep_length"]) == 100.0
    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["attack", str(out), "--rates", "0,0.5", "--episodes", "2", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    with (out / "attack.csv").open() as f:
        assert sorted({float(r["alpha"]) for r in csv.DictReader(f)}) == [0.0, 0.5]


def test_both_cost_conventions_reach_the_cost_key(user_module) -> None:
    env = make_env(f"{user_module}:six_tuple", num_envs=2, seed=0, normalize_obs=False)
    td = env.rollout(3, break_when_any_done=False)
    assert (td["next", keys.COST] == 0.5).all() and td["next", keys.COST].shape == (2, 3, 1)


@pytest.mark.parametrize("factory,error,match", [
    ("no_cost", EnvContractError, re.escape("no info['cost']")),
    ("not_an_env", EnvContractError, "the env has no reset, step, observation_space, action_space"),
    ("vision", UnsupportedTaskError, r"Box observation space of shape \(8, 8, 3\).*vision"),
    ("discrete", UnsupportedTaskError, "Discrete action space"),
    ("missing", UnknownTaskError, "has no callable 'missing'"),
])
def test_a_broken_contract_is_refused_in_one_line(user_module, tmp_path, factory, error, match) -> None:
    with pytest.raises(error, match=match) as info:
        get_task(f"{user_module}:{factory}")
    assert "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["train", "--algo", "trpo-lag", "--env", f"{user_module}:{factory}",
                                      "--out", str(tmp_path / "run"), "--no-progress"])
    assert not (tmp_path / "run").exists()
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output


def test_an_unknown_module_is_an_unknown_task() -> None:
    with pytest.raises(UnknownTaskError, match="cannot import module 'no_such_package_xyz.envs'"):
        get_task("no_such_package_xyz.envs:make")
