"""Third-party console noise that a normal run does not need to see.

Each entry is a message that is benign for this library, with the reason:
- Lightning warns that a module is in eval mode at the start of training: that module is the
  observation normaliser, an env transform that TorchRL keeps in eval mode; it learns its
  statistics according to its ``frozen`` flag, not to train/eval mode.
- Lightning warns that an ``IterableDataset`` defines ``__len__``: the rollout source does so on
  purpose (length 1, no loader workers), so that Lightning never prefetches a stale rollout.
- Lightning (with torch 2.13) warns that ``isinstance(treespec, LeafSpec)`` is deprecated, in its
  own code.
- Lightning's INFO lines (accelerator availability, tips, "fit stopped") are logs, not results.
- Lightning warns that ``srun`` is on PATH but not used (a Slurm node or login node): it guards
  against several processes started without ``srun``, so a one-process run (every job of
  ``recipe run --engine slurm``) does not show it; a run of several processes still does.
- gymnasium-robotics 1.2.2 (the version safety-gymnasium needs; gymnasium imports it as a plugin)
  prints a notice about its Adroit hand tasks' rewards on stderr when imported. No task of this
  library is an Adroit task: :func:`drop_adroit_notice` removes that one notice from the
  notification table, and the package does so on import, before anything imports gymnasium.
Real warnings still show.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

BENIGN_WARNINGS = (
    r"Found \d+ module\(s\) in eval mode at the start of training",
    r"Your `IterableDataset` has `__len__` defined",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
SRUN_NOT_USED = r"The `srun` command is available on your system but is not used"
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


def drop_adroit_notice() -> None:
    try:
        from farama_notifications import notifications
    except ImportError:
        return
    notifications.get("gymnasium_robotics", {}).pop("1.2.2", None)


@contextmanager
def third_party_noise_silenced(processes: int) -> Iterator[None]:
    """Within the block: the benign warnings above ignored (the ``srun`` one when ``processes``
    is 1), Lightning's loggers at WARNING."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in (*BENIGN_WARNINGS, *([SRUN_NOT_USED] if processes == 1 else [])):
            warnings.filterwarnings("ignore", message=message)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
