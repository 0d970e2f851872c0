"""Peak memory of a whole process tree (a process and all its descendants, workers included).

Sampled from /proc every ``interval`` seconds (Linux): the sum over the tree of RSS (shared pages
counted once per process: an upper bound after fork) and of PSS (shared pages split between the
processes sharing them: the tree's own footprint).

    python benchmarks/tree_memory.py -- shapo-rl train ...    # peak of a command's tree
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in KiB; zeros once it has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.endswith("kB")}
    return values.get("Rss", 0), values.get("Pss", 0)


def tree_memory_mib(root: int) -> tuple[float, float]:
    """(RSS sum, PSS sum) in MiB of ``root`` and its descendants now."""
    tree, pids, rss, pss = _children(), [root], 0, 0
    while pids:
        pid = pids.pop()
        r, p = _memory_kib(pid)
        rss, pss = rss + r, pss + p
        pids += tree.get(pid, [])
    return rss / 1024, pss / 1024


class PeakTreeMemory:
    """Context manager: the peak (RSS sum, PSS sum) in MiB of ``root``'s tree while it is open."""

    def __init__(self, root: int | None = None, interval: float = 0.2):
        self.root, self.interval = root or os.getpid(), interval
        self.peak = (0.0, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            rss, pss = tree_memory_mib(self.root)
            self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakTreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str]) -> int:
    command = argv[1:] if argv and argv[0] == "--" else argv
    process = subprocess.Popen(command)
    with PeakTreeMemory(process.pid) as peak:
        code = process.wait()
    print(f"peak process-tree memory: RSS sum {peak.peak[0]:.0f} MiB, PSS sum {peak.peak[1]:.0f} MiB", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
