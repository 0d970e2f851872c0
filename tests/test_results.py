"""The committed evidence in results/: each run holds its small files only (no checkpoint, no
directory of the machine that trained it) with its full evaluation (and attack sweep where the
recipe asks for one); the committed tables are those the committed CSVs give; and the report
command regenerates figures and tables from a small subset of them (no training)."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from cli.app import app
from recipes import get_recipe
from shapo_rl.launch.job import finished
from shapo_rl.reporting.aggregate import pareto_row
from shapo_rl.reporting.differences import difference_table
from shapo_rl.reporting.runs import group_runs, load_run

RESULTS = Path(__file__).parents[1] / "results"
EXPERIMENTS = ("evidence-shapo", "evidence-strpo")
IN_PROGRESS = ("shapo-authors",)  # runs committed as they finish; no report yet
runner = CliRunner()


def _runs(name: str) -> list[Path]:
    runs = sorted(path for path in (RESULTS / name / "runs").iterdir() if path.is_dir())
    assert runs, f"no committed run in results/{name}/runs"
    return runs


@pytest.mark.parametrize("name", EXPERIMENTS + IN_PROGRESS)
def test_committed_runs_are_small_finished_and_fully_post_processed(name):
    recipe = get_recipe(name)
    scale = recipe.scale("bench")
    planned = {run.spec.name: run for run in recipe.plan(scale, RESULTS / name)}
    for run in _runs(name):
        assert run.name in planned, f"{run.name} is not a run of {name} at bench scale"
        assert {p.name for p in run.iterdir()} <= {"config.yaml", "metrics.csv", "evaluation.csv", "attack.csv"}
        assert finished(run)
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["steps"] == planned[run.name].config.steps and config["seed"] in scale.seeds
        assert "/" not in str(config.get("algorithm", {}).get("unsafe_policy", ""))  # relative to runs/
        evaluation = pd.read_csv(run / "evaluation.csv")
        assert len(evaluation) == 100 and evaluation["deterministic"].all()
        if any(command.writes == "attack.csv" for command in planned[run.name].spec.post):
            attack = pd.read_csv(run / "attack.csv")
            assert sorted(attack["alpha"].unique()) == pytest.approx([k / 10 for k in range(11)])
            assert (attack.groupby("alpha").size() == 100).all()


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_committed_tables_are_those_of_the_committed_runs(name):
    """The report in results/NAME/report was drawn from exactly the committed CSVs of the runs
    the recipe reports."""
    recipe = get_recipe(name)
    shown = {run.spec.name for run in recipe.reported_runs(recipe.plan(recipe.scale("bench"), RESULTS / name))}
    groups = group_runs([load_run(run) for run in _runs(name) if run.name in shown])
    report = RESULTS / name / "report"
    committed = pd.read_csv(report / "pareto.csv")
    expected = pd.DataFrame([pareto_row(g) for g in groups])
    pd.testing.assert_frame_equal(committed, expected, check_exact=False, rtol=1e-9, check_dtype=False)
    differences = difference_table(groups, recipe.against)
    if differences.empty:
        assert not (report / "differences.csv").exists()
    else:
        pd.testing.assert_frame_equal(pd.read_csv(report / "differences.csv"), differences,
                                      check_exact=False, rtol=1e-9, check_dtype=False)


def test_the_report_regenerates_from_a_committed_subset(tmp_path):
    """Two seeds of two groups of each experiment: `shapo-rl report` draws every section."""
    for name in EXPERIMENTS:
        groups = group_runs([load_run(run) for run in _runs(name)])
        subset = [str(run.path) for group in groups[:2] for run in group.runs[:2]]
        out = tmp_path / name
        result = runner.invoke(app, ["report", *subset, "--out", str(out)])
        assert result.exit_code == 0, result.output
        text = (out / "report.md").read_text()
        for section in ("## Learning curves", "## Return against cost", "## Diagnostics", "## Across tasks"):
            assert section in text
        assert len(pd.read_csv(out / "pareto.csv")) == min(2, len(groups))
