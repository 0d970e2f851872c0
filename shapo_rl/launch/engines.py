"""Where a recipe's jobs run: this machine (:class:`LocalEngine`) or a Slurm cluster
(:class:`SlurmEngine`, through submitit). Both run :class:`~shapo_rl.launch.job.Job` on each
run, wave after wave (a wave's runs need only runs of earlier waves).

Locally, at most ``jobs`` jobs at once. Each job's work is already a child process (``train``
with one torch thread), so the pool only has to wait on them: a thread pool, not a process pool
(which would add a second interpreter per job); submitit's own local executor is not used
because it has no cap on concurrent jobs. A job overlaps its critic regression with its next
rollout (``train --overlap-critics``) only where it has two cores of its own: with fewer, two
side-by-side Hopper runs measured 1.3-1.4x slower with it than without. On Slurm, each wave is
one job array throttled to ``max_parallel`` tasks (``--array=0-N%K``), each wave after the previous one has ended
(``afterany``, so a failed run fails only the runs needing it, with a one-line reason).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from shapo_rl.config import ConfigError
from shapo_rl.envs.workers import available_cores
from shapo_rl.launch.job import Job, JobError, RunSpec


def waves(specs: Sequence[RunSpec]) -> list[list[RunSpec]]:
    """The runs grouped so that each needs only runs of earlier groups (order kept)."""
    level: dict[Path, int] = {}
    grouped: list[list[RunSpec]] = []
    for spec in specs:  # a recipe's plan lists every needed run before the runs needing it
        depth = 1 + max((level[need] for need in spec.needs), default=-1)
        level[spec.run_dir] = depth
        if depth == len(grouped):
            grouped.append([])
        grouped[depth].append(spec)
    return grouped


Report = Callable[[RunSpec, str], None]  # (run, outcome or "failed: reason") as each job ends


@dataclass(frozen=True)
class LocalEngine:
    jobs: int

    @property
    def train_options(self) -> tuple[str, ...]:
        """``--no-overlap-critics`` when the jobs at once leave fewer than two cores each."""
        return ("--no-overlap-critics",) if 2 * self.jobs > available_cores() else ()

    def run(self, specs: Sequence[RunSpec], report: Report) -> int:
        """Run every job; return how many failed."""

        def attempt(spec: RunSpec) -> bool:
            try:
                report(spec, Job(self.train_options)(spec))
                return True
            except JobError as err:
                report(spec, f"failed: {err}")
                return False

        failed = 0
        with ThreadPoolExecutor(self.jobs) as pool:
            for wave in waves(specs):
                failed += sum(not ok for ok in pool.map(attempt, wave))
        return failed


@dataclass(frozen=True)
class SlurmEngine:
    """``time_min`` per job (a longer run is requeued from its checkpoint at each time-out, up
    to ``max_requeues`` times); ``folder`` holds submitit's scripts and logs."""

    folder: Path
    partition: str | None = None
    time_min: int = 240
    cpus: int = 1
    gpus: int = 0
    max_parallel: int = 64
    max_requeues: int = 20
    job_name: str = "shapo-rl"

    def run(self, specs: Sequence[RunSpec], report: Report) -> list[str]:
        """Submit one array per wave; return the array job ids (the jobs run on the cluster)."""
        import submitit

        if shutil.which("sbatch") is None or shutil.which("srun") is None:
            raise ConfigError("--engine slurm needs Slurm's sbatch and srun on PATH")
        executor = submitit.SlurmExecutor(folder=self.folder, max_num_timeout=self.max_requeues)
        arrays: list[str] = []
        for wave in waves(specs):
            executor.update_parameters(
                job_name=self.job_name, partition=self.partition, time=self.time_min, cpus_per_task=self.cpus,
                gpus_per_node=self.gpus or None, array_parallelism=self.max_parallel,
                dependency=f"afterany:{arrays[-1]}" if arrays else None)
            jobs = executor.map_array(Job(), wave)
            arrays.append(jobs[0].job_id.split("_")[0])
            for spec, job in zip(wave, jobs):
                report(spec, f"submitted as {job.job_id}")
        return arrays
