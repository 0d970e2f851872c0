"""Lightning data module: per-process env stack and TorchRL collector, built at ``setup``.

Each process (DDP rank) builds its own batched env and its own collector over the shared policy
parameters. Like the reference library, every epoch's rollout starts from freshly reset envs
(episodes still running at the end of an epoch bootstrap from the critic), and ``reseed(epoch)``
seeds those envs and torch's sampling from (seed, rank, epoch) alone. An epoch's data is then a
function of the weights and the epoch index, so a resumed run needs no simulator state to repeat
an uninterrupted one exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchrl.collectors import Collector
from torchrl.envs import ExplorationType
from torchrl.modules import ProbabilisticActor

from shapo_rl.config import TrainConfig
from shapo_rl.envs import make_env
from shapo_rl.rollout.data import RolloutSource


def _keep_tensordict(batch):
    return batch


class RolloutDataModule(L.LightningDataModule):
    def __init__(self, config: TrainConfig, policy_factory: Callable[[], ProbabilisticActor],
                 obs_normalizer: nn.Module | None):
        super().__init__()
        self.config = config
        self.policy_factory = policy_factory
        self.obs_normalizer = obs_normalizer
        self.source: RolloutSource | None = None

    def setup(self, stage: str) -> None:
        if self.source is not None:
            return
        cfg = self.config
        rank = self.trainer.global_rank if self.trainer is not None else 0
        processes = self.trainer.world_size if self.trainer is not None else 1
        env = make_env(cfg.env, num_envs=cfg.num_envs, seed=cfg.seed + rank * cfg.num_envs,
                       normalize_obs=cfg.normalize_obs, obs_normalizer=self.obs_normalizer,
                       processes=processes)
        # The collector resets its envs once on construction; those observations must not enter
        # the normaliser's statistics, or a resumed run would count them twice.
        if self.obs_normalizer is not None:
            self.obs_normalizer.frozen = True
        collector = Collector(env, self.policy_factory(), frames_per_batch=cfg.steps_per_epoch,
                              total_frames=-1, exploration_type=ExplorationType.RANDOM, trust_policy=True,
                              reset_at_each_iter=True, auto_register_policy_transforms=False,
                              track_traj_ids=False)  # nothing reads ("collector", "traj_ids")
        if self.obs_normalizer is not None:
            self.obs_normalizer.frozen = False
        self.source = RolloutSource(collector, before_rollout=lambda: self.reseed(self.trainer.current_epoch))

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
