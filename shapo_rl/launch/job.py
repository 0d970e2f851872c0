"""What one job of a recipe does, under every engine: bring one run directory to its budget,
then post-process it.

A finished run (its last metrics row at its configured steps) is left as it is; an
interrupted one continues from ``checkpoints/last.ckpt`` (``train --resume``, exact); any
other starts afresh (``train ... --force``, which clears a failed attempt). Then each
post-processing command whose output file is missing runs. Every command is a child
``shapo-rl`` process (one torch thread) whose stderr is appended to ``logs/<run>.log``;
``logs/<run>.pid`` marks a job in progress and ``logs/<run>.failed`` holds the one-line reason
of the last failure, which ``recipe status`` shows.

:class:`Job` is that function as a ``submitit`` checkpointable callable: on Slurm, preemption
or a time-out sends USR2, submitit calls :meth:`Job.checkpoint`, which stops the training child
(every finished epoch is on disk) and requeues the job; the requeued job resumes.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import submitit
import yaml


@dataclass(frozen=True)
class Command:
    """A ``shapo-rl`` command run on a trained run (``{run}`` stands for its directory) and the
    file it writes there, whose presence means it is done."""

    args: tuple[str, ...]
    writes: str


@dataclass(frozen=True)
class RunSpec:
    """One run job: its name, directory, ``train`` arguments, the run directories that must be
    finished first, and its post-processing."""

    name: str
    run_dir: Path
    logs: Path
    train_args: tuple[str, ...]
    needs: tuple[Path, ...] = ()
    post: tuple[Command, ...] = ()

    @property
    def log(self) -> Path:
        return self.logs / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.logs / f"{self.name}.pid"

    @property
    def failure_file(self) -> Path:
        return self.logs / f"{self.name}.failed"


PREEMPTION_GRACE_S = 60.0  # how long a job whose child died of USR2 waits for its own USR2 handler


class JobError(RuntimeError):
    """A job's command failed; the message is its one-line reason."""


def finished(run: Path) -> bool:
    """Whether ``run`` holds a run whose last metrics row reaches its configured ``steps``."""
    try:
        steps = yaml.safe_load((run / "config.yaml").read_text())["steps"]
        with (run / "metrics.csv").open() as f:
            return int(list(csv.DictReader(f))[-1]["env_steps"]) == steps
    except (OSError, IndexError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return False


def done(spec: RunSpec) -> bool:
    """Trained to its budget and every post-processing output written."""
    return finished(spec.run_dir) and all((spec.run_dir / step.writes).is_file() for step in spec.post)


def _child_env() -> dict[str, str]:
    """This process's environment without Slurm's variables: the child is a plain local run (the
    job handles requeueing; Lightning would otherwise take the Slurm job for its own)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}


class Job(submitit.helpers.Checkpointable):
    """``Job()(spec)`` runs the job; returns ``"skipped"`` when there was nothing to do, else
    ``"done"``; raises :class:`JobError` with the reason of a failure. ``train_options`` are
    added to each ``train`` command (how the engine shares the machine out, never a setting of the
    run)."""

    def __init__(self, train_options: tuple[str, ...] = ()) -> None:
        self.train_options = train_options
        self._child: subprocess.Popen | None = None

    def __call__(self, spec: RunSpec) -> str:
        if done(spec):
            return "skipped"
        spec.logs.mkdir(parents=True, exist_ok=True)
        spec.failure_file.unlink(missing_ok=True)
        spec.pid_file.write_text(f"{socket.gethostname()} {os.getpid()}\n")
        try:
            for need in spec.needs:
                if not finished(need):
                    raise JobError(f"needs the run {need.name}, which has not finished")
            if not finished(spec.run_dir):
                if (spec.run_dir / "checkpoints" / "last.ckpt").is_file():
                    self._shapo_rl(spec, ("train", "--resume", str(spec.run_dir)))
                else:
                    self._shapo_rl(spec, ("train", *spec.train_args, "--out", str(spec.run_dir), "--force"))
            for step in spec.post:
                if not (spec.run_dir / step.writes).is_file():
                    self._shapo_rl(spec, tuple(arg.format(run=spec.run_dir) for arg in step.args))
        except JobError as err:
            spec.failure_file.write_text(f"{err}\n")
            raise
        finally:
            spec.pid_file.unlink(missing_ok=True)
        return "done"

    def _shapo_rl(self, spec: RunSpec, args: tuple[str, ...]) -> None:
        with spec.log.open("a") as log:
            log.write(f"$ shapo-rl {' '.join(args)}\n")
            log.flush()
            extra = ("--no-progress", "--quiet", *self.train_options) if args[0] == "train" else ()
            self._child = subprocess.Popen([sys.executable, "-m", "cli.app", *args, *extra],
                                           stdout=subprocess.DEVNULL, stderr=log, env=_child_env())
            code = self._child.wait()
        if code == -signal.SIGUSR2:  # Slurm signals the child too; submitit's handler is about to requeue
            time.sleep(PREEMPTION_GRACE_S)
        if code != 0:
            raise JobError(f"{args[0]}: {_failure_reason(code, spec.log)}")

    def checkpoint(self, spec: RunSpec) -> submitit.helpers.DelayedSubmission:
        """Called by submitit on preemption or time-out: stop the child, requeue a fresh job.

        Runs as a signal handler inside the job's wait on the child, so it only signals the
        child (waiting again, or polling, would block on the interrupted wait's lock)."""
        if self._child is not None and self._child.returncode is None:
            try:
                os.kill(self._child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        return submitit.helpers.DelayedSubmission(Job(self.train_options), spec)


def _failure_reason(code: int, log: Path) -> str:
    """A signal's name where the child was killed (its log's last line is then whatever it last
    wrote, often a warning, not the cause), else the log's last line (an error's one line)."""
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (" (as the out-of-memory killer does)" if -code == signal.SIGKILL else "")
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return lines[-1] if lines and not lines[-1].startswith("$ shapo-rl") else f"exit code {code}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _epochs(run: Path) -> str:
    try:
        config = yaml.safe_load((run / "config.yaml").read_text())
        with (run / "metrics.csv").open() as f:
            done_epochs = len(list(csv.DictReader(f)))
        return f"{done_epochs}/{config['steps'] // config['steps_per_epoch']} epochs"
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return "no epoch yet"


def state(spec: RunSpec) -> tuple[str, str]:
    """(done | running | failed | pending, a detail): a job whose pid file names a live process
    of this host, or any process of another host (a cluster node), is running; a failed one
    gives its reason; a pending one that was interrupted says how far it got."""
    if done(spec):
        return "done", ""
    if spec.pid_file.is_file():
        host, _, pid = spec.pid_file.read_text().strip().partition(" ")
        if host != socket.gethostname() or (pid.isdigit() and _alive(int(pid))):
            return "running", f"{_epochs(spec.run_dir)} on {host}"
    if spec.failure_file.is_file():
        return "failed", spec.failure_file.read_text().strip()
    if (spec.run_dir / "checkpoints" / "last.ckpt").is_file():
        return "pending", f"interrupted at {_epochs(spec.run_dir)}; resumes"
    return "pending", ""
