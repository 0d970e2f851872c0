"""Lightning data module: per-process env stack and rollout collector, built at ``setup``.

Each process (DDP rank) builds its own batched env and its own collector over the shared policy
parameters. Like the reference library, every epoch's rollout starts from freshly reset envs
(episodes still running at the end of an epoch bootstrap from the critic), and ``reseed(epoch)``
seeds those envs and torch's sampling from (seed, rank, epoch) alone. An epoch's data is then a
function of the weights and the epoch index, so a resumed run needs no simulator state to repeat
an uninterrupted one exactly.

With several processes, each one's observation normaliser sees only its own envs during a
rollout; right after it, the processes pool what their normalisers learned from the rollout, so
that all of them (and the checkpoint, which rank 0 writes) hold the statistics of every
process's observations and stay identical.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from shapo_rl.algorithms.registry import make_run_env
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs.normalizer import merge_moments
from shapo_rl.models import GaussianPolicy
from shapo_rl.rollout.collector import RolloutCollector
from shapo_rl.rollout.data import RolloutSource


def steps_per_process(config: TrainConfig, processes: int) -> int:
    """Each process's share of an epoch's steps: they are shared out, so ``--steps`` means the
    same on any number of processes. Raises ``ConfigError`` unless every env gets equal steps."""
    if config.steps_per_epoch % (processes * config.num_envs):
        raise ConfigError(f"--steps-per-epoch ({config.steps_per_epoch}) must be a multiple of --num-envs "
                          f"({config.num_envs}) times the number of processes ({processes})")
    return config.steps_per_epoch // processes


def _keep_tensordict(batch):
    return batch


@torch.no_grad()
def rollout_increment(normalizer: nn.Module, count0: torch.Tensor, mean0: torch.Tensor,
                      m20: torch.Tensor) -> torch.Tensor:
    """What an :class:`~shapo_rl.envs.ObservationNormalizer` learned since it held (count0, mean0,
    m20): the count, mean and M2 of the observations it added, as one float64 row [n, mean, m2]."""
    count, mean, m2 = normalizer.count, normalizer.mean, normalizer.m2
    n = count - count0
    if n > 0:
        added_mean = (count * mean - count0 * mean0) / n
        added_m2 = m2 - m20 - (added_mean - mean0) ** 2 * count0 * n / count
    else:
        added_mean, added_m2 = torch.zeros_like(mean0), torch.zeros_like(m20)
    return torch.cat([n.reshape(1), added_mean.reshape(-1), added_m2.reshape(-1)])


@torch.no_grad()
def add_increments(count: torch.Tensor, mean: torch.Tensor, m2: torch.Tensor,
                   increments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count, mean, M2) with every row of ``increments`` (see :func:`rollout_increment`) added
    in order by Chan et al.'s parallel update."""
    size = mean.numel()
    for row in increments:
        if row[0] > 0:
            count, mean, m2 = merge_moments(count, mean, m2, row[0], row[1:1 + size].view_as(mean),
                                            row[1 + size:].view_as(m2))
    return count, mean, m2


class RolloutDataModule(L.LightningDataModule):
    def __init__(self, config: TrainConfig, policy: GaussianPolicy, obs_normalizer: nn.Module | None):
        super().__init__()
        self.config = config
        self.policy = policy
        self.obs_normalizer = obs_normalizer
        self.source: RolloutSource | None = None

    def setup(self, stage: str) -> None:
        if self.source is not None:
            return
        cfg = self.config
        rank = self.trainer.global_rank if self.trainer is not None else 0
        processes = self.trainer.world_size if self.trainer is not None else 1
        frames = steps_per_process(cfg, processes)
        env = make_run_env(cfg, num_envs=cfg.num_envs, seed=cfg.seed + rank * cfg.num_envs,
                           obs_normalizer=self.obs_normalizer, processes=processes)
        self.source = RolloutSource(RolloutCollector(env, self.policy, frames), epoch=self._current_epoch,
                                    before_rollout=self._before_rollout, after_rollout=self._after_rollout)

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def collect_ahead(self, epoch: int) -> None:
        """Collect the rollout of ``epoch`` now, with the current actor and normaliser, exactly as
        that epoch would (the same seeds); that epoch then trains on it."""
        self.source.collect_ahead(epoch)

    def _pools_statistics(self) -> bool:
        return self.obs_normalizer is not None and self.trainer is not None and self.trainer.world_size > 1

    def _before_rollout(self, epoch: int) -> None:
        self.reseed(epoch)
        if self._pools_statistics():
            norm = self.obs_normalizer
            self._statistics_before = (norm.count.clone(), norm.mean.clone(), norm.m2.clone())

    def _after_rollout(self) -> None:
        """Fold every process's rollout observations into every process's normaliser.

        All processes held the same statistics before the rollout; each adds to them the
        increments of all of them, gathered, in rank order: identical arithmetic on identical
        inputs, so the processes end with bit-identical statistics."""
        if not self._pools_statistics():
            return
        norm, before = self.obs_normalizer, self._statistics_before
        increments = self.trainer.strategy.all_gather(rollout_increment(norm, *before))
        pooled = add_increments(*before, increments.reshape(self.trainer.world_size, -1))
        for buffer, value in zip((norm.count, norm.mean, norm.m2), pooled):
            buffer.copy_(value)

    def reseed(self, epoch: int) -> None:
        """Seed the envs (one derived seed each) and torch's global RNG for ``epoch``."""
        rank = self.trainer.global_rank if self.trainer is not None else 0
        env_seed, torch_seed = np.random.SeedSequence([self.config.seed, rank, epoch]).generate_state(2)
        self.source.collector.set_seed(int(env_seed))
        torch.manual_seed(int(torch_seed))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.source, batch_size=None, collate_fn=_keep_tensordict)

    def teardown(self, stage: str) -> None:
        if self.source is not None:
            self.source.shutdown()
            self.source = None
