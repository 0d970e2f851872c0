"""Each env's physics of a slice stepped in threads: ``mj_step`` releases the GIL."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class PhysicsThreads:
    """Contiguous shares of a slice's ``count`` envs, one per thread (at most one per env).

    :meth:`run` calls ``step(rows, *args)`` for every share, the calling thread taking the first
    and a pool the others, and returns once all have. Each env's physics touches only its own
    model and data, so the shares are independent and the result is the order-free union.
    """

    def __init__(self, count: int, threads: int):
        self.shares = np.array_split(np.arange(count), max(1, min(threads, count)))
        self._pool = ThreadPoolExecutor(len(self.shares) - 1) if len(self.shares) > 1 else None

    def run(self, step: Callable[..., None], *args) -> None:
        pending = [self._pool.submit(step, rows, *args) for rows in self.shares[1:]] if self._pool else []
        step(self.shares[0], *args)
        for future in pending:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
