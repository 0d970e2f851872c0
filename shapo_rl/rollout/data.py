"""The Lightning data source: one fresh on-policy rollout per training epoch.

A rollout collector is wrapped as an ``IterableDataset`` of length 1. With a known length,
Lightning fetches exactly one batch per epoch and never prefetches rollout k+1 before the update
on rollout k, so every rollout is collected by the current policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from tensordict import TensorDictBase
from torch import Tensor
from torch.utils.data import IterableDataset

from shapo_rl import keys


class RolloutSource(IterableDataset):
    """Yields one rollout of ``frames_per_batch`` steps (shape [num_envs, T]) per epoch.

    ``before_rollout()`` runs right before each collection (the data module reseeds there): at
    that point nothing else can draw from the random generators before the rollout does.
    ``after_rollout()`` runs right after it, before the batch is handed on.
    """

    def __init__(self, collector, before_rollout: Callable[[], None] | None = None,
                 after_rollout: Callable[[], None] | None = None):
        super().__init__()
        self.collector = collector
        self.before_rollout = before_rollout
        self.after_rollout = after_rollout
        self._iterator: Iterator[TensorDictBase] | None = None

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[TensorDictBase]:
        if self.before_rollout is not None:
            self.before_rollout()
        if self._iterator is None:
            self._iterator = iter(self.collector)
        batch = next(self._iterator)
        if self.after_rollout is not None:
            self.after_rollout()
        yield batch

    def shutdown(self) -> None:
        self.collector.shutdown()


def episode_statistics(batch: TensorDictBase) -> dict[str, Tensor]:
    """Totals of the episodes that ended inside ``batch`` (return, cost, length per episode)."""
    done = batch["next", keys.DONE].squeeze(-1)
    nxt = batch["next"]
    return {
        "return": nxt[keys.EPISODE_RETURN].squeeze(-1)[done],
        "cost": nxt[keys.EPISODE_COST].squeeze(-1)[done],
        "length": nxt[keys.EPISODE_LENGTH].squeeze(-1)[done],
    }
