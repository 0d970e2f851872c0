"""Recipes: every grid builds and validates; `recipe run` skips finished runs and resumes a
killed one to the metrics of an uninterrupted run, locally and on a stand-in Slurm (array,
throttle, requeue on USR2); user mistakes are one line and exit code 2."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from recipes import recipes
from shapo_rl.config import ConfigError
from shapo_rl.launch.job import finished, state
from shapo_rl.launch.recipe import Grid, Needs, Recipe, Scale, Variant

FAKE_SLURM = Path(__file__).parent / "fake_slurm"
TIMING = ("epoch_seconds", "actor_seconds", "critic_seconds")
STEPS = 2000  # toy at this budget: 10 epochs of 200 steps
SCALE = f"smoke-steps{STEPS}"


@pytest.mark.parametrize("scale", ["smoke", "paper"])
@pytest.mark.parametrize("name", list(recipes()))
def test_every_recipe_builds_and_validates(tmp_path, name, scale):
    recipe = recipes()[name][0]
    chosen = recipe.scale(scale)
    plan = recipe.plan(chosen, tmp_path)
    cells = sum(len(g.algos) * len(g.tasks) * len(g.variants) for g in recipe.grids) * len(chosen.seeds)
    assert len({run.spec.name for run in plan}) == len(plan) <= cells
    seen = set()
    for run in plan:
        assert run.config.steps == chosen.steps and run.config.seed in chosen.seeds
        assert all(need in seen for need in run.spec.needs)  # every needed run is planned before
        if run.config.algo == "strpo":
            assert run.spec.needs == (Path(run.config.algorithm.unsafe_policy),)
        seen.add(run.spec.run_dir)
    if scale == "paper" and recipe.grids and name != "toy":  # toy is no paper experiment
        assert chosen.steps >= 10_000_000 and len(chosen.seeds) == 5


def test_evidence_recipes_at_bench_scale(tmp_path):
    """The committed grids: PID-Lag vanilla / SHAPO 1e-5 / SHAPO 1e-3 (both with critic SAM 0.05)
    on two tasks at limit 25, 5 seeds x 2M; sTRPO (each seed from its own seed's unsafe policy),
    CPO, TRPO-Lag and CPPO-PID on Hopper-Velocity, 5 seeds x 67 epochs of 15,000 steps, attacked."""
    shapo = recipes()["evidence-shapo"][0]
    plan = shapo.plan(shapo.scale("bench"), tmp_path)
    assert len(plan) == 30 and {run.config.steps for run in plan} == {2_000_000}
    cells = {(r.config.env, r.config.variant, r.config.shapo.radius if r.config.shapo.geometry == "fisher" else None,
              r.config.shapo.critic_sam_rho if r.config.shapo.critic_sam else None) for r in plan}
    assert {(variant, radius, rho) for _, variant, radius, rho in cells} == {
        ("vanilla", None, None), ("shapo", 1e-5, 0.05), ("shapo-r1e-3", 1e-3, 0.05)}
    assert {r.config.cost_limit for r in plan} == {25.0} and {r.config.algo for r in plan} == {"trpo-pid"}
    strpo = recipes()["evidence-strpo"][0]
    plan = strpo.plan(strpo.scale("bench"), tmp_path)
    assert len(plan) == 30 and {(r.config.steps, r.config.steps_per_epoch) for r in plan} == {(1_005_000, 15_000)}
    fallbacks = sorted(run.config.algorithm.fallback for run in plan if run.config.algo == "strpo")
    assert fallbacks == ["separating"] * 5 + ["trust-region"] * 5
    for run in plan:
        if run.config.algo == "strpo":
            assert Path(run.config.algorithm.unsafe_policy).name == f"SafetyHopperVelocity-v1.unsafe-dtrpo.seed{run.config.seed}"
        attacked = any(c.writes == "attack.csv" for c in run.spec.post)
        assert attacked == (run.config.algo != "unsafe-dtrpo")
    assert {run.config.algo for run in strpo.reported_runs(plan)} == {"strpo", "cpo", "trpo-lag", "cppo-pid"}
    assert len(shapo.reported_runs(shapo.plan(shapo.scale("bench"), tmp_path))) == 30  # empty: every grid
    with pytest.raises(ConfigError, match="no scale 'bench'"):
        recipes()["toy"][0].scale("bench")


def test_shapo_main_constrains_every_algorithm_it_runs(tmp_path):
    """A falls episode costs 0 or 1, so CRPO there must switch to its cost step below Jc = 1;
    Saute stays off the falls tasks (as in the paper) and takes the reference's tuned values on
    PointGoal1 only."""
    recipe = recipes()["shapo-main"][0]
    plan = recipe.plan(recipe.smoke, tmp_path)
    by_cell = {(run.config.algo, run.config.env, run.config.variant): run.config for run in plan}
    for env in ("Ant-v4", "Walker2d-v4"):
        for variant in ("vanilla", "shapo"):
            crpo = by_cell["crpo", env, variant]
            assert crpo.cost_limit + crpo.algorithm.tolerance < 1.0
            assert ("trpo-saute", env, variant) not in by_cell
    goal = by_cell["trpo-saute", "SafetyPointGoal1-v0", "shapo"]
    button = by_cell["trpo-saute", "SafetyPointButton1-v0", "shapo"]
    assert (goal.algorithm.saute_gamma, goal.algorithm.unsafe_reward) == (0.9999, -0.2)
    assert (button.algorithm.saute_gamma, button.algorithm.unsafe_reward) == (0.999, -1.0)
    assert by_cell["crpo", "SafetyPointGoal1-v0", "vanilla"].algorithm.tolerance == 2.0


def test_scale_overrides_round_to_whole_epochs():
    paper = Scale("paper", 10_005_000, 15_000, (0, 1))
    assert paper.with_overrides(steps=100_000) == Scale("paper-steps100000", 105_000, 15_000, (0, 1))
    assert paper.with_overrides(steps=500, seeds=(3,)) == Scale("paper-steps500", 500, 500, (3,))


def test_bad_setting_or_missing_dependency_is_a_config_error(tmp_path):
    bad = Recipe("bad", Scale("s", 200, 200, (0,)),
                 (Grid("g", ("trpo",), ("ToyCMDP-v0",), (Variant("v", ("shapo.radiuss=1",)),)),))
    with pytest.raises(ConfigError, match="ToyCMDP-v0.trpo.v.seed0: unknown setting 'shapo.radiuss'; did you mean"):
        bad.plan(bad.paper, tmp_path)
    orphan = Recipe("orphan", Scale("s", 200, 200, (0,)),
                    (Grid("g", ("strpo",), ("ToyCMDP-v0",), needs=Needs("unsafe", "unsafe_policy")),))
    with pytest.raises(ConfigError, match="needs one run of grid 'unsafe'.*found 0"):
        orphan.plan(orphan.paper, tmp_path)


def test_user_mistakes_are_one_line_exit_2_and_launch_nothing(tmp_path, monkeypatch):
    runner = CliRunner()
    for args in (["recipe", "run", "toyy"], ["recipe", "run", "toy", "--seeds", "0,x"], ["recipe", "status", "nope"],
                 ["recipe", "run", "toy", "--algorithms", "cpo"]):
        result = runner.invoke(app, [*args, "--out", str(tmp_path)])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    bad = Recipe("bad", Scale("smoke", 200, 200, (0,)), (Grid("g", ("trpo",), ("ToyCMDP-v0",), settings=("gamma=2",)),))
    monkeypatch.setattr("recipes.recipes", lambda: {"bad": (bad, "a malformed recipe")})
    result = runner.invoke(app, ["recipe", "run", "bad", "--out", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("error: recipe bad, run ToyCMDP-v0.trpo.seed0: gamma")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing launched


def _shapo_rl(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def _metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def toy_plan(tmp_path_factory):
    """The toy recipe's plan at STEPS under one folder, and an uninterrupted run of its SHAPO run."""
    out = tmp_path_factory.mktemp("recipes")
    recipe = recipes()["toy"][0]
    scale = recipe.scale("smoke", steps=STEPS)
    plan = recipe.plan(scale, out / scale.name)
    shapo = next(run for run in plan if run.config.variant == "shapo")
    reference = out / "reference"
    subprocess.run([sys.executable, "-m", "cli.app", "train", *shapo.spec.train_args, "--out", str(reference),
                    "--quiet", "--no-progress"], check=True)
    return out, plan, _metrics(reference)


def test_killed_recipe_run_skips_finished_runs_and_resumes_the_interrupted_one(toy_plan):
    out, plan, reference = toy_plan
    local = out / "local"
    first, second = (run.spec for run in plan)
    first, second = (type(s)(s.name, local / SCALE / "runs" / s.name, local / SCALE / "logs",
                             s.train_args) for s in (first, second))
    args = ("recipe", "run", "toy", "--steps", str(STEPS), "--jobs", "1", "--out", str(local))
    engine = _shapo_rl(*args, start_new_session=True)
    _wait_for(lambda: finished(first.run_dir) and (second.run_dir / "checkpoints" / "last.ckpt").is_file())
    os.killpg(engine.pid, signal.SIGKILL)  # the engine and its jobs
    engine.wait()
    assert not finished(second.run_dir) and state(second)[0] == "pending" and "interrupted" in state(second)[1]
    stamp = (first.run_dir / "metrics.csv").stat().st_mtime_ns
    again = _shapo_rl(*args)
    output = again.communicate()[0]
    assert again.returncode == 0, output
    assert f"{first.name}: skipped" in output and f"{second.name}: done" in output
    assert (first.run_dir / "metrics.csv").stat().st_mtime_ns == stamp
    assert "$ shapo-rl train --resume" in second.log.read_text()
    assert _metrics(second.run_dir) == reference


def test_exported_runs_are_skipped_elsewhere_and_reported_from_their_csvs(toy_plan, tmp_path):
    """`recipe export` copies the finished runs' small files; `recipe run --results` on a machine
    without the runs trains nothing; `recipe report --results` draws from the copies."""
    out, plan, reference = toy_plan
    runner = CliRunner()
    local, results = out / "local", tmp_path / "results"
    sized = ("--scale", "smoke", "--steps", str(STEPS))
    _shapo_rl("recipe", "run", "toy", *sized, "--jobs", "1", "--out", str(local)).communicate()
    exported = runner.invoke(app, ["recipe", "export", "toy", *sized, "--out", str(local), "--to", str(results)])
    assert exported.exit_code == 0 and "exported 2 of 2 runs" in exported.output, exported.output
    names = sorted(p.name for p in (results / "toy" / "runs").iterdir())
    assert names == sorted(run.spec.name for run in plan)
    assert {p.name for p in (results / "toy" / "runs" / names[0]).iterdir()} == {"config.yaml", "metrics.csv"}
    elsewhere = tmp_path / "elsewhere"
    again = runner.invoke(app, ["recipe", "run", "toy", *sized, "--out", str(elsewhere), "--results", str(results)])
    assert again.exit_code == 0 and "2 of 2 runs already exported" in again.output, again.output
    assert not elsewhere.exists()
    drawn = runner.invoke(app, ["recipe", "report", "toy", *sized, "--out", str(elsewhere), "--results", str(results)])
    assert drawn.exit_code == 0, drawn.output
    assert "vanilla" in (results / "toy" / "report" / "differences.csv").read_text()


def test_an_exported_unfinished_run_continues_elsewhere_exactly(toy_plan, tmp_path):
    """`recipe export --unfinished` parks an interrupted run's config, metrics and last checkpoint;
    `recipe run --results` on another machine resumes it from there to the uninterrupted metrics,
    and exporting it done removes the parked copy."""
    out, plan, reference = toy_plan
    local, results, elsewhere = tmp_path / "local", tmp_path / "results", tmp_path / "elsewhere"
    shapo = next(run.spec for run in plan if run.config.variant == "shapo")
    sized = ("--scale", "smoke", "--steps", str(STEPS))
    engine = _shapo_rl("recipe", "run", "toy", *sized, "--jobs", "1", "--out", str(local), start_new_session=True)
    partial = local / SCALE / "runs"
    _wait_for(lambda: any((d / "checkpoints" / "last.ckpt").is_file() and not finished(d)
                          for d in partial.glob("*.shapo.*")) if partial.is_dir() else False)
    os.killpg(engine.pid, signal.SIGKILL)
    engine.wait()
    runner = CliRunner()
    parked = runner.invoke(app, ["recipe", "export", "toy", *sized, "--out", str(local), "--to", str(results),
                                 "--unfinished"])
    assert parked.exit_code == 0 and "to continue: " in parked.output, parked.output
    kept = results / "toy" / "unfinished" / shapo.name
    assert sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()) == [
        "checkpoints/last.ckpt", "config.yaml", "metrics.csv"]
    continued = _shapo_rl("recipe", "run", "toy", *sized, "--jobs", "1", "--out", str(elsewhere),
                          "--results", str(results))
    output = continued.communicate()[0]
    assert continued.returncode == 0 and f"continuing 1 runs from {results / 'toy' / 'unfinished'}" in output, output
    assert _metrics(elsewhere / SCALE / "runs" / shapo.name) == reference
    assert "$ shapo-rl train --resume" in (elsewhere / SCALE / "logs" / f"{shapo.name}.log").read_text()
    done_now = runner.invoke(app, ["recipe", "export", "toy", *sized, "--out", str(elsewhere), "--to", str(results)])
    assert done_now.exit_code == 0 and not kept.exists(), done_now.output


def test_slurm_engine_submits_a_throttled_array_and_requeues_on_usr2(toy_plan):
    out, plan, reference = toy_plan
    slurm, fake = out / "slurm", out / "fake-slurm-state"
    fake.mkdir()
    shapo = plan[1].spec
    run_dir = slurm / SCALE / "runs" / shapo.name
    env = {**os.environ, "PATH": f"{FAKE_SLURM}:{os.environ['PATH']}", "FAKE_SLURM": str(fake),
           "FAKE_SLURM_USR2_TASK": "1", "FAKE_SLURM_USR2_ON": str(run_dir / "checkpoints" / "last.ckpt")}
    # task 1, the SHAPO run, is preempted once its first epoch is on disk
    submit = _shapo_rl("recipe", "run", "toy", "--steps", str(STEPS), "--engine", "slurm", "--max-parallel", "1",
                       "--time", "30", "--out", str(slurm), env=env)
    output = submit.communicate()[0]
    assert submit.returncode == 0 and "submitted 2 jobs in 1 arrays (100)" in output, output
    script = (fake / "jobs" / "100.sh").read_text()
    assert "#SBATCH --array=0-1%1" in script and "#SBATCH --time=30" in script and "#SBATCH --signal=USR2@90" in script
    _wait_for(lambda: (fake / "100.done").is_file())
    assert (fake / "requeued").read_text() == "100_1 1\n"  # the preempted task requeued itself once
    assert finished(slurm / SCALE / "runs" / plan[0].spec.name) and finished(run_dir)
    assert "$ shapo-rl train --resume" in (slurm / SCALE / "logs" / f"{shapo.name}.log").read_text()
    assert _metrics(run_dir) == reference


def test_restricted_keeps_the_runs_of_those_tasks_and_algorithms_and_refuses_others(tmp_path):
    recipe = recipes()["strpo-main"][0]
    scale = recipe.scale("smoke")
    full = {run.spec.name: run for run in recipe.plan(scale, tmp_path)}
    hopper = recipe.restricted(tasks=("SafetyHopperVelocity-v1",)).plan(scale, tmp_path)
    assert hopper and all(run.config.env == "SafetyHopperVelocity-v1" for run in hopper)
    assert {run.spec.name for run in hopper} == {name for name, run in full.items()
                                                  if run.config.env == "SafetyHopperVelocity-v1"}
    assert all(full[run.spec.name].spec == run.spec for run in hopper)  # same directories, needs included
    both = recipe.restricted(("SafetyHopperVelocity-v1",), ("cpo", "trpo-lag")).plan(scale, tmp_path)
    assert {run.spec.name for run in both} == {name for name, run in full.items()
                                               if run.config.env == "SafetyHopperVelocity-v1"
                                               and run.config.algo in ("cpo", "trpo-lag")}
    assert len(both) == 2 * len(scale.seeds)
    with pytest.raises(ConfigError, match="recipe strpo-main has no task Hopper-v4"):
        recipe.restricted(tasks=("Hopper-v4",))
    with pytest.raises(ConfigError, match="recipe strpo-main has no algorithm ppo "):
        recipe.restricted(algos=("trpo-lag", "ppo"))


def test_shapo_authors_bench_grid(tmp_path):
    """PID-Lag at the authors' preset (PointGoal1 at limit 10, Walker2d at its falls limit): vanilla and actor-only SHAPO 1e-5 on PointGoal1 for
    10M steps, SHAPO + critic SAM 0.05 there for 2M, the three arms on Walker2d-v4 for 3M; 5 seeds."""
    recipe = recipes()["shapo-authors"][0]
    plan = recipe.plan(recipe.scale("bench"), tmp_path)
    cells = {(r.config.env, r.config.variant, r.config.shapo.geometry, r.config.shapo.critic_sam, r.config.steps)
             for r in plan}
    assert cells == {
        ("SafetyPointGoal1-v0", "vanilla", "none", False, 10_000_000),
        ("SafetyPointGoal1-v0", "shapo", "fisher", False, 10_000_000),
        ("SafetyPointGoal1-v0", "shapo-sam", "fisher", True, 2_000_000),
        ("Walker2d-v4", "vanilla", "none", False, 3_000_000),
        ("Walker2d-v4", "shapo", "fisher", False, 3_000_000),
        ("Walker2d-v4", "shapo-sam", "fisher", True, 3_000_000),
    }
    assert len(plan) == 30 and {r.config.seed for r in plan} == {0, 1, 2, 3, 4}
    assert {(r.config.preset, r.config.obs_clip, r.config.shapo.radius, r.config.shapo.fallback,
             r.config.shapo.cg_iters, r.config.critic.init, r.config.algo) for r in plan} == {
        ("shapo-authors", None, 1e-5, "tenth", 10, "default", "trpo-pid")}
    assert {(r.config.env, r.config.cost_limit) for r in plan} == {("SafetyPointGoal1-v0", 10.0), ("Walker2d-v4", 0.1)}
    assert {r.config.shapo.critic_sam_rho for r in plan if r.config.shapo.critic_sam} == {0.05}
    paper = recipe.plan(recipe.scale("paper"), tmp_path)
    assert {r.config.steps for r in paper} == {10_000_000}  # the budgets are the bench scale's only
    overridden = recipe.plan(recipe.scale("bench", steps=40_000), tmp_path)
    assert {r.config.steps for r in overridden} == {40_000}


def test_a_grid_budget_must_be_whole_epochs(tmp_path):
    from shapo_rl.launch.recipe import Grid, Recipe, Scale

    scale = Scale("bench", steps=4000, steps_per_epoch=1000, seeds=(0,))
    recipe = Recipe("r", paper=scale, bench=scale, grids=(Grid("g", ("trpo",), ("ToyCMDP-v0",), budgets=(("bench", 2500),)),))
    with pytest.raises(ConfigError, match="not a whole number of its 1000-step epochs"):
        recipe.plan(recipe.scale("bench"), tmp_path)


@pytest.mark.parametrize("kill", [True, False])
def test_a_failed_job_names_its_signal_or_its_last_line(tmp_path, monkeypatch, kill):
    """A child killed by a signal (the out-of-memory killer's SIGKILL) is reported as such, not by
    the warning it printed last; a child that exits with an error reports its one line."""
    from shapo_rl.launch import job

    end = "os.kill(os.getpid(), signal.SIGKILL)" if kill else "sys.exit('Error: cost limit must be >= 0')"
    child = f"import os, signal, sys; sys.stderr.write('UserWarning: a warning\\n'); sys.stderr.flush(); {end}"
    popen = subprocess.Popen
    monkeypatch.setattr(job.subprocess, "Popen", lambda cmd, **kw: popen([sys.executable, "-c", child], **kw))
    spec = job.RunSpec("toy.seed0", tmp_path / "run", tmp_path / "logs", ("--env", "toy"))
    with pytest.raises(job.JobError) as err:
        job.Job()(spec)
    expected = "train: killed by SIGKILL" if kill else "train: Error: cost limit must be >= 0"
    assert str(err.value).startswith(expected) and "warning" not in str(err.value)
    assert spec.failure_file.read_text().startswith(expected)
    assert state(spec) == ("failed", spec.failure_file.read_text().strip())
