"""The Lightning data source: one fresh on-policy rollout per training epoch.

A rollout collector is wrapped as an ``IterableDataset`` of length 1. With a known length,
Lightning fetches exactly one batch per epoch and never prefetches rollout k+1 before the update
on rollout k, so every rollout is collected by the current policy. (The training module collects
rollout k+1 itself once the actor of epoch k has stepped, beside the critics' regression: see
``shapo_rl.optim.critic_regression``.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from tensordict import TensorDictBase
from torch import Tensor
from torch.utils.data import IterableDataset

from shapo_rl import keys


class RolloutSource(IterableDataset):
    """Yields one rollout of ``frames_per_batch`` steps (shape [num_envs, T]) per epoch.

    ``epoch()`` is the epoch being trained. ``before_rollout(epoch)`` runs right before each
    collection (the data module reseeds there for that epoch): at that point nothing else can
    draw from the random generators before the rollout does. ``after_rollout()`` runs right after
    it, before the batch is handed on. :meth:`collect_ahead` collects an epoch's rollout before
    that epoch starts (while the critics of the one before regress); that epoch then yields it,
    with torch's generators put back where the collection left them (the data loader draws a
    seed from them at each epoch's start, after the rollout collected ahead but before the one
    collected in its place).
    """

    def __init__(self, collector, epoch: Callable[[], int], before_rollout: Callable[[int], None] | None = None,
                 after_rollout: Callable[[], None] | None = None):
        super().__init__()
        self.collector = collector
        self.epoch = epoch
        self.before_rollout = before_rollout
        self.after_rollout = after_rollout
        self._iterator: Iterator[TensorDictBase] | None = None
        self._ahead: tuple[int, TensorDictBase, tuple] | None = None

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[TensorDictBase]:
        epoch, ahead = self.epoch(), self._ahead
        self._ahead = None
        if ahead is not None and ahead[0] == epoch:
            _set_generator_states(ahead[2])
            yield ahead[1]
        else:
            yield self.collect(epoch)

    def collect(self, epoch: int) -> TensorDictBase:
        """The rollout of ``epoch``, collected now by the current policy."""
        if self.before_rollout is not None:
            self.before_rollout(epoch)
        if self._iterator is None:
            self._iterator = iter(self.collector)
        batch = next(self._iterator)
        if self.after_rollout is not None:
            self.after_rollout()
        return batch

    def collect_ahead(self, epoch: int) -> None:
        """Collect the rollout of ``epoch`` now; iterating in that epoch hands it on."""
        batch = self.collect(epoch)
        self._ahead = (epoch, batch, _generator_states())

    def shutdown(self) -> None:
        self.collector.shutdown()


def _generator_states() -> tuple:
    """The states of torch's global generators: the CPU one, and CUDA's once it is in use."""
    return torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None


def _set_generator_states(states: tuple) -> None:
    cpu, cuda = states
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state_all(cuda)


def episode_statistics(batch: TensorDictBase) -> dict[str, Tensor]:
    """Totals of the episodes that ended inside ``batch`` (return, cost, length per episode)."""
    done = batch["next", keys.DONE].squeeze(-1)
    nxt = batch["next"]
    return {
        "return": nxt[keys.EPISODE_RETURN].squeeze(-1)[done],
        "cost": nxt[keys.EPISODE_COST].squeeze(-1)[done],
        "length": nxt[keys.EPISODE_LENGTH].squeeze(-1)[done],
    }
