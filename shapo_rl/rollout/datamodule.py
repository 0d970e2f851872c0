"""Lightning data module: per-process env stack and TorchRL collector, built at ``setup``.

Each process (DDP rank) builds its own batched env, seeded ``seed + rank * num_envs`` so that no
two envs anywhere share a seed, and its own collector over the shared policy parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
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
        env = make_env(cfg.env, num_envs=cfg.num_envs, seed=cfg.seed + rank * cfg.num_envs,
                       normalize_obs=cfg.normalize_obs, obs_normalizer=self.obs_normalizer)
        collector = Collector(env, self.policy_factory(), frames_per_batch=cfg.steps_per_epoch,
                              total_frames=-1, exploration_type=ExplorationType.RANDOM, trust_policy=True,
                              auto_register_policy_transforms=False)
        self.source = RolloutSource(collector)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.source, batch_size=None, collate_fn=_keep_tensordict)

    def teardown(self, stage: str) -> None:
        if self.source is not None:
            self.source.shutdown()
            self.source = None
