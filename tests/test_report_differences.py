"""Bootstrap contrasts against a reference group: the point statistic is the difference (or
ratio) of seed means, the interval matches the normal closed form for many seeds and collapses
for constant groups; each variant meets the vanilla runs of its own algorithm, or of the
algorithm named by ``against``; exported runs name no directory of the training machine."""

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shapo_rl.launch.results import export_run
from shapo_rl.reporting.differences import bootstrap_contrast, difference_table, reference_group
from shapo_rl.reporting.runs import Run, group_runs


def test_contrast_of_a_shifted_group_is_the_shift():
    reference = np.array([3.0, 5.0, 9.0, 4.0, 7.0])
    value, low, high = bootstrap_contrast(reference + 2.5, reference)
    assert value == pytest.approx(2.5, abs=1e-12)
    assert low < 2.5 < high


def test_interval_matches_the_normal_closed_form_for_many_seeds():
    """Difference of two means of n = 400: the 95% interval is +-1.96 sqrt(s1^2/n + s2^2/n)."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 2.0, 400), rng.normal(0.0, 1.0, 400)
    value, low, high = bootstrap_contrast(a, b, reps=20_000)
    half = 1.96 * np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert value == pytest.approx(a.mean() - b.mean(), abs=1e-12)
    assert (high - low) / 2 == pytest.approx(half, rel=0.05)
    assert (low + high) / 2 == pytest.approx(value, abs=0.1 * half)


def test_ratio_and_constant_groups():
    value, low, high = bootstrap_contrast([2.0, 2.0, 2.0], [4.0, 4.0], ratio=True)
    assert (value, low, high) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        bootstrap_contrast([], [1.0])


def _run(algo: str, seed: int, total_cost: float, ret: float, shapo: dict | None = None, task="SafetyHopperVelocity-v1",
         variant: str | None = None):
    config = {"env": task, "algo": algo, "cost_limit": 25.0, "seed": seed, **({"shapo": shapo} if shapo else {}),
              **({"variant": variant} if variant is not None else {})}
    metrics = pd.DataFrame({"env_steps": [1000, 2000], "ep_return": [0.0, ret], "ep_cost": [30.0, total_cost / 100],
                            "cost_rate": [0.01, total_cost / 2000], "total_cost": [10.0, total_cost]})
    return Run(Path(f"{task}.{algo}.{seed}"), config, metrics, None, None)


SHAPO = {"geometry": "fisher", "radius": 1e-5, "critic_sam": True, "critic_sam_rho": 0.05}


def test_each_variant_meets_its_own_vanilla_or_the_named_algorithm():
    runs = [_run("trpo-pid", s, 100.0 + s, 50.0 + s) for s in range(3)]
    runs += [_run("trpo-pid", s, 60.0 + s, 52.0 + s, SHAPO) for s in range(3)]
    runs += [_run("cpo", s, 200.0 + 2 * s, 40.0) for s in range(2)]
    runs += [_run("trpo-pid", 0, 1.0, 1.0, task="SafetyPointGoal1-v0")]  # no vanilla cpo there
    groups = group_runs(runs)
    by_label = {(g.task, g.label): g for g in groups}
    shapo = by_label["SafetyHopperVelocity-v1", "trpo-pid shapo-fisher-1e-05+sam0.05"]
    vanilla = by_label["SafetyHopperVelocity-v1", "trpo-pid vanilla"]
    assert reference_group(shapo, groups) is vanilla
    assert reference_group(vanilla, groups) is None  # not against itself

    table = difference_table(groups).set_index("group")
    assert list(table.index) == ["trpo-pid shapo-fisher-1e-05+sam0.05"]
    row = table.loc["trpo-pid shapo-fisher-1e-05+sam0.05"]
    assert row["total cost difference"] == pytest.approx(-40.0)
    assert row["final return difference"] == pytest.approx(2.0)
    assert row["total cost ratio"] == pytest.approx(61.0 / 101.0)
    assert row["seeds"] == "3 vs 3"

    against = difference_table(groups, against="cpo")
    assert set(against["reference"]) == {"cpo vanilla"}
    assert set(against["group"]) == {"trpo-pid vanilla", "trpo-pid shapo-fisher-1e-05+sam0.05"}
    assert against.set_index("group").loc["trpo-pid vanilla", "total cost ratio"] == pytest.approx(101.0 / 201.0)


def test_a_recipes_named_arms_meet_its_vanilla_arm():
    """Recipe runs carry their arm's name (variant=vanilla, variant=shapo); a named arm that
    changes nothing else is no reference."""
    runs = [_run("trpo-pid", s, 100.0, 50.0, variant="vanilla") for s in range(2)]
    runs += [_run("trpo-pid", s, 80.0, 50.0, SHAPO, variant="shapo") for s in range(2)]
    runs += [_run("trpo-pid", s, 90.0, 50.0, variant="other") for s in range(2)]
    table = difference_table(group_runs(runs))
    assert set(table["reference"]) == {"trpo-pid vanilla:vanilla"}
    assert set(table["group"]) == {"trpo-pid shapo:shapo-fisher-1e-05+sam0.05", "trpo-pid other:vanilla"}


def test_export_copies_small_files_and_makes_run_paths_relative(tmp_path):
    runs = tmp_path / "bench" / "runs"
    unsafe, run = runs / "T.unsafe-dtrpo.seed0", runs / "T.strpo.seed0"
    for folder in (unsafe, run / "checkpoints"):
        folder.mkdir(parents=True)
    config = {"env": "T", "algo": "strpo", "cost_limit": 25.0,
              "algorithm": {"unsafe_policy": str(unsafe), "other": "/elsewhere/kept"}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "metrics.csv").write_text("epoch,env_steps\n0,10\n")
    (run / "evaluation.csv").write_text("episode,return,cost\n0,1,0.5\n")
    (run / "attack.csv").write_text(f"run,alpha,return\n{run},0.0,1.25\n")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    written = export_run(run, tmp_path / "results" / run.name)
    assert sorted(p.name for p in written) == ["attack.csv", "config.yaml", "evaluation.csv", "metrics.csv"]
    copied = yaml.safe_load((tmp_path / "results" / run.name / "config.yaml").read_text())
    assert copied["algorithm"] == {"unsafe_policy": "T.unsafe-dtrpo.seed0", "other": "/elsewhere/kept"}
    assert not (tmp_path / "results" / run.name / "checkpoints").exists()
    def rows(name):
        with (tmp_path / "results" / run.name / name).open(newline="") as f:
            return list(csv.reader(f))

    assert rows("metrics.csv") == [["epoch", "env_steps"], ["0", "10"]]
    assert rows("evaluation.csv") == [["episode", "return", "cost"], ["0", "1", "0.5"]]
    assert rows("attack.csv") == [["run", "alpha", "return"], ["T.strpo.seed0", "0.0", "1.25"]]


def test_rliable_intervals_repeat_and_leave_numpys_global_state_alone():
    """rliable resamples from NumPy's global generator whatever random_state it is given: the
    report's IQM intervals and profile bands must still be the same on every redraw."""
    from shapo_rl.reporting.scores import iqm_intervals, profiles

    rng = np.random.default_rng(1)
    scores = {"a": rng.random((5, 2)), "b": rng.random((5, 2))}
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert iqm_intervals(scores) == iqm_intervals(scores)
    first, second = profiles(scores)[1], profiles(scores)[1]
    assert all(np.array_equal(first[k], second[k]) for k in scores)
    assert np.array_equal(np.random.get_state()[1], before)
