"""Slices in worker processes, and how many workers or physics threads a batch may use here."""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback

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


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(num_envs: int, processes: int = 1) -> int:
    """Worker processes a batch of ``num_envs`` heavy simulators may use when ``processes``
    training processes share this machine: one per core beyond each process's own, at most one
    per env."""
    return max(0, min(available_cores() // max(processes, 1), num_envs) - 1)


def physics_threads(processes: int = 1) -> int:
    """Threads a fast slice may step its physics in when ``processes`` training processes share
    this machine: its cores per process (``mj_step`` releases the GIL)."""
    return max(1, available_cores() // max(processes, 1))
