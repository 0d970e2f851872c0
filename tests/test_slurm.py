"""Against a real Slurm scheduler (`make test-slurm` starts a one-node cluster on this machine;
skipped when none answers): `recipe run --engine slurm` submits each wave as one array throttled
to --max-parallel, later waves after earlier ones end (afterany), and its runs end with the
local engine's metrics; a job whose --time is shorter than its run is requeued by submitit and
resumes from its checkpoint; scancel of one array task fails only the runs needing it and a
second `recipe run` finishes them; two-process training under `srun --ntasks-per-node 2` (Lightning's
Slurm environment) keeps its replicas identical and matches the same run started locally."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch

from recipes import recipes
from shapo_rl.launch.engines import SlurmEngine
from shapo_rl.launch.job import finished, state
from shapo_rl.launch.recipe import Grid, Needs, Recipe, Scale
import test_distributed as ddp
from test_recipes import _metrics, _shapo_rl, _wait_for

pytestmark = pytest.mark.slurm
SETTINGS = ("critic.update_iters=1",)
QUEUE_TIMEOUT = 600  # seconds for a test's jobs to leave the queue


@pytest.fixture(scope="module", autouse=True)
def scheduler():
    if shutil.which("sinfo") is None:
        pytest.skip("no Slurm on PATH (`make test-slurm` installs and starts a one-node cluster)")
    nodes = subprocess.run(["sinfo", "--noheader", "-o", "%t"], capture_output=True, text=True, timeout=30)
    if nodes.returncode != 0 or not nodes.stdout.split():
        reason = nodes.stderr.strip().splitlines()[-1] if nodes.stderr.strip() else "no node"
        pytest.skip(f"no Slurm scheduler answers sinfo ({reason}); "
                    "`make test-slurm` starts a one-node cluster")


def _jobs(job: str) -> list[dict[str, str]]:
    """`scontrol show job` of a job or array, one dict per job (array task)."""
    text = subprocess.run(["scontrol", "--oneliner", "show", "job", job], capture_output=True, text=True,
                          check=True).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in text.splitlines() if line.strip()]


def _queued(job: str) -> list[tuple[str, str]]:
    """(job id, state) of the job's or array's tasks still in the queue."""
    text = subprocess.run(["squeue", "--noheader", "--array", "--jobs", job, "-o", "%i %T"],
                          capture_output=True, text=True).stdout
    return [tuple(line.split()) for line in text.splitlines()]


def _wait_until_gone(*jobs: str, watch=None) -> None:
    """Wait until none of ``jobs`` is queued or running; ``watch(queued)`` sees each poll."""
    deadline = time.monotonic() + QUEUE_TIMEOUT
    while queued := [task for job in jobs for task in _queued(job)]:
        assert time.monotonic() < deadline, f"still queued after {QUEUE_TIMEOUT} s: {queued}"
        if watch is not None:
            watch(queued)
        time.sleep(0.2)


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _submitted(output: str) -> list[str]:
    match = re.search(r"submitted \d+ jobs in \d+ arrays \(([\d, ]+)\)", output)
    assert match, output
    return match.group(1).split(", ")


def test_toy_recipe_runs_as_one_throttled_array_with_the_local_engines_metrics(tmp_path):
    steps, scale = 4000, "smoke-steps4000"  # 20 epochs of 200 steps per run: long enough to see running
    recipe = recipes()["toy"][0]
    names = [run.spec.name for run in recipe.plan(recipe.scale("smoke", steps=steps), tmp_path / "plan")]
    local = _shapo_rl("recipe", "run", "toy", "--steps", str(steps), "--jobs", "2", "--out", str(tmp_path / "local"))
    output = local.communicate()[0]
    assert local.returncode == 0, output

    status = ("recipe", "status", "toy", "--steps", str(steps), "--out", str(tmp_path / "slurm"))
    submit = _shapo_rl("recipe", "run", "toy", "--steps", str(steps), "--engine", "slurm", "--max-parallel", "1",
                       "--time", "10", "--out", str(tmp_path / "slurm"))
    output = submit.communicate()[0]
    assert submit.returncode == 0, output
    (array,) = _submitted(output)
    assert [job["ArrayTaskThrottle"] for job in _jobs(array)] == ["1"] * len(_jobs(array))
    runs = tmp_path / "slurm" / scale / "runs"
    _wait_for(lambda: (runs / names[0] / "checkpoints" / "last.ckpt").is_file(), timeout=QUEUE_TIMEOUT)
    during = _shapo_rl(*status)
    during_output = during.communicate()[0]
    assert during.returncode == 0, during_output
    # one run at a time (the other done or pending), on the node, with how far it got
    assert re.search(r"\s+running\s+(\d+/20 epochs|no epoch yet) on \S+\n", during_output), during_output
    assert ", 1 running, 0 failed" in during_output, during_output

    running_at_once: list[int] = []
    _wait_until_gone(array, watch=lambda queued: running_at_once.append(sum(s == "RUNNING" for _, s in queued)))
    assert max(running_at_once) == 1
    tasks = sorted(_jobs(array), key=lambda job: int(job["ArrayTaskId"]))
    assert [job["JobState"] for job in tasks] == ["COMPLETED", "COMPLETED"]
    assert _when(tasks[1]["StartTime"]) >= _when(tasks[0]["EndTime"])  # the throttle held the second back
    for name in names:
        assert _metrics(runs / name) == _metrics(tmp_path / "local" / scale / "runs" / name), name
    after = _shapo_rl(*status)
    after_output = after.communicate()[0]
    assert after.returncode == 0 and "2 done, 0 running, 0 failed, 0 pending" in after_output, after_output


def _train(spec, out: Path) -> subprocess.Popen:
    """The run of ``spec`` trained here without a scheduler, into ``out``."""
    return subprocess.Popen([sys.executable, "-m", "cli.app", "train", *spec.train_args, "--out", str(out),
                             "--quiet", "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen) -> None:
    output = process.communicate()[0]
    assert process.returncode == 0, output


def _epoch_seconds(run: Path) -> float:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    return sum(float(row["epoch_seconds"]) for row in rows) / len(rows)


def test_a_job_past_its_time_limit_is_requeued_and_resumes_to_the_uninterrupted_metrics(tmp_path):
    """--time 2 with submitit's USR2 90 s before the limit: slurmctld checks time limits every
    30 s and signals up to 30 s early, so each attempt is signalled within 30 s of its start; the
    run is sized to about 35 s of epochs here, so it needs at least one requeue."""
    toy = recipes()["toy"][0]
    probe = next(run.spec for run in toy.plan(toy.scale("smoke", steps=800), tmp_path / "probe")
                 if run.config.variant == "shapo")
    _finish(_train(probe, probe.run_dir))
    steps = 200 * min(400, math.ceil(35 / _epoch_seconds(probe.run_dir)))
    spec = next(run.spec for run in toy.plan(toy.scale("smoke", steps=steps), tmp_path / "slurm")
                if run.config.variant == "shapo")
    (job_id,) = SlurmEngine(tmp_path / "slurm" / "submitit", time_min=2, job_name="timeout").run(
        [spec], lambda *_: None)
    reference = _train(spec, tmp_path / "reference")  # meanwhile, the same run left alone
    _wait_until_gone(job_id)
    _finish(reference)
    (job,) = _jobs(job_id)
    assert job["JobState"] == "COMPLETED" and int(job["Restarts"]) >= 1, job
    assert "$ shapo-rl train --resume" in spec.log.read_text()
    assert finished(spec.run_dir) and _metrics(spec.run_dir) == _metrics(tmp_path / "reference")


def _two_wave_recipe() -> Recipe:
    """Unsafe policies (wave 1), then the sTRPO runs that need them (wave 2), on ToyCMDP-v0."""
    scale = Scale("smoke", steps=4000, steps_per_epoch=200, seeds=(0, 1))
    return Recipe("waves", scale, smoke=scale, grids=(
        Grid("unsafe", ("unsafe-trpo",), ("ToyCMDP-v0",), settings=SETTINGS),
        Grid("strpo", ("strpo",), ("ToyCMDP-v0",), settings=SETTINGS, needs=Needs("unsafe", "unsafe_policy"))))


def test_scancel_of_one_array_task_fails_only_its_dependants_and_a_second_run_finishes_them(tmp_path):
    recipe = _two_wave_recipe()
    specs = [run.spec for run in recipe.plan(recipe.smoke, tmp_path)]
    unsafe0, unsafe1, strpo0, strpo1 = specs
    assert strpo0.needs == (unsafe0.run_dir,) and strpo1.needs == (unsafe1.run_dir,)
    engine = SlurmEngine(tmp_path / "submitit", time_min=10, max_parallel=2, job_name="waves")
    jobs: dict[str, str] = {}

    def report(spec, outcome: str) -> None:
        jobs[spec.name] = outcome.removeprefix("submitted as ")

    first, second = engine.run(specs, report)
    assert [jobs[spec.name] for spec in specs] == [f"{first}_0", f"{first}_1", f"{second}_0", f"{second}_1"]
    assert all(re.fullmatch(rf"afterany:{first}(_\*)?\(unfulfilled\)", job["Dependency"]) for job in _jobs(second))
    _wait_for(lambda: (unsafe0.run_dir / "checkpoints" / "last.ckpt").is_file(), timeout=QUEUE_TIMEOUT)
    subprocess.run(["scancel", jobs[unsafe0.name]], check=True)
    _wait_until_gone(first, second)

    ended = {spec.name: _jobs(jobs[spec.name])[0] for spec in specs}
    assert [ended[spec.name]["JobState"] for spec in specs] == ["CANCELLED", "COMPLETED", "FAILED", "COMPLETED"]
    assert min(_when(ended[s.name]["StartTime"]) for s in (strpo0, strpo1)) >= \
        max(_when(ended[s.name]["EndTime"]) for s in (unsafe0, unsafe1))  # afterany: wave 2 after all of wave 1
    assert not finished(unsafe0.run_dir) and finished(unsafe1.run_dir) and finished(strpo1.run_dir)
    assert state(strpo0) == ("failed", f"needs the run {unsafe0.run_dir.name}, which has not finished")
    stamps = {spec.name: (spec.run_dir / "metrics.csv").stat().st_mtime_ns for spec in (unsafe1, strpo1)}

    again = engine.run(specs, report)
    reference = _train(unsafe0, tmp_path / "reference")  # meanwhile, the cancelled run left alone
    _wait_until_gone(*again)
    _finish(reference)
    assert all(finished(spec.run_dir) for spec in specs)
    assert [_jobs(jobs[spec.name])[0]["JobState"] for spec in specs] == ["COMPLETED"] * 4
    assert {spec.name: (spec.run_dir / "metrics.csv").stat().st_mtime_ns for spec in (unsafe1, strpo1)} == stamps
    assert "$ shapo-rl train --resume" in unsafe0.log.read_text()
    assert _metrics(unsafe0.run_dir) == _metrics(tmp_path / "reference")


def test_two_processes_under_srun_match_the_same_run_started_locally(tmp_path):
    """`srun --ntasks-per-node 2` starts both processes (Lightning's Slurm environment, no launcher of its
    own): replicas identical after every epoch, metrics and weights those of Lightning's local
    two-process run (`--devices 2 --accelerator cpu`) with the same seed."""
    config = ddp.CONFIGS["trpo-lag-critic-sam"]
    local = ddp._run_two_processes(tmp_path / "local", config)
    srun = subprocess.run(["srun", "--nodes", "1", "--ntasks-per-node", "2", "--cpus-per-task", "1", "--time", "10", "--kill-on-bad-exit=1",
                           sys.executable, ddp.__file__, str(tmp_path / "srun"), json.dumps(config.to_dict())],
                          capture_output=True, text=True, timeout=ddp.TIMEOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert srun.returncode == 0, (srun.stdout + srun.stderr)[-4000:]
    ranks = [ddp._load(tmp_path / "srun", rank) for rank in (0, 1)]
    assert [(r["environment"], r["rank"], r["world_size"]) for r in ranks] == [("SLURMEnvironment", 0, 2),
                                                                               ("SLURMEnvironment", 1, 2)]
    assert {r["environment"] for r in local} == {"LightningEnvironment"}
    for epoch in range(ddp.EPOCHS):
        ddp._assert_same_tensors(ranks[0]["policies"][epoch], ranks[1]["policies"][epoch])
        ddp._assert_same_tensors(ranks[0]["policies"][epoch], local[0]["policies"][epoch])
    ddp._assert_same_tensors(ddp._replicated(ranks[0]["final"]), ddp._replicated(ranks[1]["final"]))
    ddp._assert_same_tensors(ddp._replicated(ranks[0]["final"]), ddp._replicated(local[0]["final"]))
    assert _metrics(tmp_path / "srun" / "run") == _metrics(tmp_path / "local" / "run")
    assert not torch.equal(ranks[0]["rollouts"][0]["observation"], ranks[1]["rollouts"][0]["observation"])
