"""Slices in worker processes, and how many workers or physics threads a batch may use here."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import traceback
from pathlib import Path

from shapo_rl.envs.batched import make_slice
from shapo_rl.envs.tasks import TaskSpec


def _slice_worker(conn, backend: str, spec: TaskSpec, max_episode_steps: int, count: int,
                  render_mode: str | None, threads: int | None) -> None:
    """Serve ``("step", actions)``, ``("reset", requests)`` and ``("close", None)`` over ``conn``."""
    envs = None
    try:
        envs = make_slice(backend, spec, max_episode_steps, count, render_mode, threads=threads)
        conn.send(("ok", None))
        while True:
            command, argument = conn.recv()
            if command == "close":
                break
            conn.send(("ok", getattr(envs, command)(argument)))
    except (KeyboardInterrupt, EOFError):
        pass
    except Exception:  # noqa: BLE001 - handed to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        if envs is not None:
            envs.close()
        conn.close()


class RemoteSlice:
    """A slice (see :mod:`shapo_rl.envs.batched`) in a worker process; ``send`` then ``receive``
    each call."""

    def __init__(self, backend: str, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None,
                 threads: int | None = None):
        # fork: no re-import of the caller's main module (no ``__main__`` guard needed) and no
        # second start-up of torch; the worker runs only numpy and the simulator.
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_slice_worker,
                                       args=(child, backend, spec, max_episode_steps, count, render_mode, threads),
                                       daemon=True)
        self.process.start()
        child.close()
        self.receive()

    def send(self, command: str, argument) -> None:
        self.conn.send((command, argument))

    def receive(self):
        try:
            status, value = self.conn.recv()
        except EOFError:
            raise RuntimeError("a simulator worker process died") from None
        if status == "error":
            raise RuntimeError(f"a simulator worker failed:\n{value}")
        return value

    def close(self) -> None:
        try:
            self.conn.send(("close", None))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
        self.conn.close()


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's control group in cores (a container's ``--cpus``), None
    when there is none: cgroup v2's ``cpu.max`` ("quota period" or "max period"), else v1's
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1 for none). Unreadable files count as none."""
    try:
        quota, period = (root / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may run on: its CPU affinity, capped by its control group's quota
    (rounded up, at least 1), since a container may see every core of its host but run on two."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cgroup_root)
    return cores if limit is None else max(1, min(cores, math.ceil(limit)))


def default_workers(num_envs: int, processes: int = 1) -> int:
    """Worker processes a batch of ``num_envs`` heavy simulators may use when ``processes``
    training processes share this machine: one per core beyond each process's own, at most one
    per env."""
    return max(0, min(available_cores() // max(processes, 1), num_envs) - 1)


def physics_threads(processes: int = 1) -> int:
    """Threads a fast slice may step its physics in when ``processes`` training processes share
    this machine: its cores per process (``mj_step`` releases the GIL)."""
    return max(1, available_cores() // max(processes, 1))
