"""`shapo-rl list`: ids never truncate, piped output is one row per line, `--all` lists what
resolves (issue 13)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cli.app import app, print_listing
from shapo_rl.algorithms import ALGORITHMS
from shapo_rl.envs import TASKS, discovery

runner = CliRunner()


@pytest.mark.parametrize("what,names", [("algos", ALGORITHMS), ("envs", TASKS)])
def test_piped_listing_is_one_row_per_line_with_the_id_first(what, names):
    result = runner.invoke(app, ["list", what], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1 + len(names)
    assert [line.split()[0] for line in lines[1:]] == list(names)


def test_a_narrow_terminal_wraps_the_description_not_the_id(capsys):
    long_id = "SafetyRacecarFadingHard2Gymnasium-v0"
    print_listing(["task", "family", "description"], [[long_id, "safety-gymnasium", "word " * 40]], width=80)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(long_id + "  ") and len(lines) > 3
    assert all(len(line) <= 80 for line in lines)


def test_list_envs_all_lists_what_resolves(monkeypatch):
    monkeypatch.setattr(discovery, "registered_ids", lambda: ("Pendulum-v1", "CartPole-v1", "SafetyPointCircle1-v0"))
    result = runner.invoke(app, ["list", "envs", "--all"])
    assert result.exit_code == 0, result.output
    ids = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert ids == [*TASKS, "Pendulum-v1", "SafetyPointCircle1-v0"]  # CartPole-v1: discrete actions
    assert "cost is always 0" in result.stdout
