"""report on tiny real runs (2 tasks x 2 algorithms x 2 seeds, and a third seed in one group,
evaluated and attacked): every figure and report.md, with ellipses centred on the seed means and
radii the standard errors."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.reporting.figures import pareto

runner = CliRunner()
TASKS = {"ToyCMDP-v0": ["--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10"],
         "SafetyHopperVelocity-v1": ["--steps", "1000", "--steps-per-epoch", "500", "--num-envs", "2"]}
ALGORITHMS = {"trpo-lag": [], "shapo": ["--shapo", "fisher", "--critic-sam"]}
SEEDS = (0, 1)


def _invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    runs = []
    for task, budget in TASKS.items():
        for name, switches in ALGORITHMS.items():
            for seed in SEEDS + ((2,) if (task, name) == ("ToyCMDP-v0", "trpo-lag") else ()):
                run = root / f"{task}-{name}-{seed}"
                _invoke("train", "--algo", "trpo-lag", "--env", task, *budget, *switches, "--seed", seed,
                        "--no-progress", "--out", run)
                runs.append(run)
    _invoke("evaluate", *runs, "--episodes", "4", "--num-envs", "2")
    _invoke("attack", *runs, "--rates", "0:1:0.5", "--episodes", "2", "--num-envs", "2", "--out", root / "attack")
    _invoke("report", *runs, "--out", root / "report")
    return root, runs


def test_report_draws_every_figure_and_links_it(study):
    root, _ = study
    report = root / "report"
    text = (report / "report.md").read_text()
    names = ["profile_return"] + [f"{kind}_{task}" for kind in ("learning", "pareto", "costs", "attack", "diagnostics")
                                  for task in TASKS]
    for name in names:
        for suffix in (".png", ".pdf"):
            assert (report / "figures" / f"{name}{suffix}").stat().st_size > 1000
            assert f"(figures/{name}{suffix})" in text
    for label in ("trpo-lag vanilla", "trpo-lag shapo-fisher-1e-05+sam0.05", "IQM return score", "env_steps_per_s",
                  "trpo-lag vanilla: the 2 lowest seeds of each task enter the aggregates"):
        assert label in text
    assert (root / "attack" / "attack_curves.png").is_file()


def test_shapo_runs_are_compared_with_their_vanilla_seeds(study):
    """One row per task: SHAPO against vanilla trpo-lag, the total-cost difference that of the
    seed means read straight from the files; the diagnostics carry SHAPO's cosine."""
    root, runs = study
    frame = pd.read_csv(root / "report" / "differences.csv")
    assert sorted(frame["task"]) == sorted(TASKS) and set(frame["reference"]) == {"trpo-lag vanilla"}
    for task in TASKS:
        def total(name):
            values = []
            for run in runs:
                if run.name.startswith(f"{task}-{name}-"):
                    with (run / "metrics.csv").open() as f:
                        values.append(float(list(csv.DictReader(f))[-1]["total_cost"]))
            return np.mean(values)

        row = frame[frame["task"] == task].iloc[0]
        assert row["total cost difference"] == pytest.approx(total("shapo") - total("trpo-lag"), rel=1e-9, abs=1e-9)
    diagnostics = pd.read_csv(root / "report" / "diagnostics.csv")
    shapo = diagnostics[diagnostics["group"].str.contains("shapo")]
    assert len(shapo) == 2 and (shapo["shapo_cosine mean"].between(0.9, 1.0)).all()
    assert diagnostics[~diagnostics["group"].str.contains("shapo")]["shapo_cosine mean"].isna().all()
    for task in TASKS:  # the fallback share and mean KL: the mean over every epoch of every SHAPO seed
        epochs = pd.concat([pd.read_csv(run / "metrics.csv") for run in runs if run.name.startswith(f"{task}-shapo-")])
        row = shapo[shapo["group"].str.startswith(task)].iloc[0]
        assert row["perturbation fallbacks"] == pytest.approx(epochs["shapo_fallback"].mean(), rel=1e-12)
        assert row["perturbation KL mean"] == pytest.approx(epochs["shapo_kl"].mean(), rel=1e-12)
        assert 0 < row["perturbation KL mean"] <= 1e-5 * (1 + 1e-6)  # within the radius (no fallback at 1e-5 here)


def _independent_pareto(runs: list[Path]) -> dict:
    """Seed mean and standard error of the last epoch, grouped by reading the files directly."""
    groups: dict = {}
    for run in runs:
        config = yaml.safe_load((run / "config.yaml").read_text())
        with (run / "metrics.csv").open() as f:
            last = list(csv.DictReader(f))[-1]
        key = (config["env"], config["algo"], json.dumps(config["shapo"], sort_keys=True))
        groups.setdefault(key, []).append({k: float(last[k]) for k in ("ep_return", "cost_rate", "total_cost")})
    out = {}
    for (task, algo, _), rows in groups.items():
        stats = {}
        for column in ("ep_return", "cost_rate", "total_cost"):
            values = np.array([r[column] for r in rows])
            stats[column] = (values.mean(), values.std(ddof=1) / np.sqrt(len(values)))
        out[(task, len(rows), round(stats["ep_return"][0], 9))] = stats
    return out


def test_ellipses_are_seed_means_and_standard_errors(study):
    root, runs = study
    expected = _independent_pareto(runs)
    with (root / "report" / "pareto.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(expected) == 4
    for row in table:
        stats = expected[(row["task"], int(row["seeds"]), round(float(row["return_mean"]), 9))]
        for column, name in (("ep_return", "return"), ("cost_rate", "cost_rate"), ("total_cost", "total_cost")):
            assert float(row[f"{name}_mean"]) == pytest.approx(stats[column][0], rel=1e-9)
            assert float(row[f"{name}_sem"]) == pytest.approx(stats[column][1], rel=1e-9)
            assert stats[column][1] > 0  # two seeds that differ: the ellipses have a size

    frame = pd.read_csv(root / "report" / "pareto.csv")
    figure = pareto(frame, "test")
    for ax, x in zip(figure.axes, ("cost_rate", "total_cost")):
        ellipses = ax.patches
        assert len(ellipses) == len(frame)
        for patch, (_, row) in zip(ellipses, frame.iterrows()):
            assert patch.center == pytest.approx((row[f"{x}_mean"], row["return_mean"]))
            assert patch.width / 2 == pytest.approx(row[f"{x}_sem"]) and patch.height / 2 == pytest.approx(row["return_sem"])


def test_video_of_a_mujoco_checkpoint(study, tmp_path):
    from shapo_rl.evaluation.video import VideoError, choose_backend

    try:
        choose_backend()
    except VideoError as err:
        pytest.skip(str(err))
    _, runs = study
    hopper = next(r for r in runs if "Hopper" in r.name)
    _invoke("evaluate", hopper, "--episodes", "1", "--video", tmp_path)
    video = tmp_path / hopper.name / "episode000.mp4"
    assert video.stat().st_size > 1000

    import imageio.v2 as imageio

    with open(hopper / "evaluation.csv") as f:
        length = int(float(next(csv.DictReader(f))["length"]))
    # the episode evaluation played first (same seed, mean actions): its reset frame, then one per step
    assert imageio.get_reader(video).count_frames() == length + 1


def test_no_backend_is_one_line_naming_what_to_install(monkeypatch):
    from shapo_rl.evaluation.video import VideoError, choose_backend

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    with pytest.raises(VideoError, match=r"\(tried egl, osmesa\): install EGL .* or OSMesa"):
        choose_backend(works=lambda backend: False)
    assert choose_backend(works=lambda backend: backend == "osmesa") == "osmesa"
    monkeypatch.setenv("MUJOCO_GL", "glx")
    assert choose_backend(works=lambda backend: backend == "glx") == "glx"
    with pytest.raises(VideoError, match="set MUJOCO_GL=glx does not work here"):
        choose_backend(works=lambda backend: backend != "glx")


@pytest.mark.parametrize("n", [3, 14, 25])
def test_every_group_gets_its_own_colour(n):
    from shapo_rl.reporting.figures import _colors

    assert len(set(_colors(n))) == n
