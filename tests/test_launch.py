"""The local grid runner: runs train as processes, reuses finished runs, reports failures in one
line; the summary's mean and standard error."""

import math

import pytest

from shapo_rl.launch import finished, last_epoch_summary, mean_se, run_grid

TINY = ["--algo", "trpo", "--env", "ToyCMDP-v0", "--steps", "200", "--steps-per-epoch", "200", "--num-envs", "10",
        "--set", "critic.update_iters=1"]


def test_grid_runs_reuses_finished_runs_and_summarises(tmp_path):
    runs = run_grid({"a": [*TINY, "--seed", "0"], "b": [*TINY, "--seed", "1"]}, tmp_path, jobs=2)
    assert all(finished(path) for path in runs.values())
    stamp = (runs["a"] / "metrics.csv").stat().st_mtime_ns
    run_grid({"a": [*TINY, "--seed", "0"]}, tmp_path)
    assert (runs["a"] / "metrics.csv").stat().st_mtime_ns == stamp  # reused, not retrained
    (row,) = last_epoch_summary({"both": list(runs.values())}, ["ep_return"])
    assert row["seeds"] == 2 and math.isfinite(row["ep_return"]) and row["ep_return_se"] >= 0
    with pytest.raises(RuntimeError, match="c failed: error: unknown algorithm 'trpoo'"):
        run_grid({"c": ["--algo", "trpoo", *TINY[2:]]}, tmp_path)


def test_mean_and_standard_error():
    assert mean_se([1.0, 2.0, 6.0]) == (3.0, pytest.approx(math.sqrt(7 / 3)))
    mean, se = mean_se([4.0])
    assert mean == 4.0 and math.isnan(se)
