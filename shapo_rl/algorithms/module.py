"""The LightningModule: the shared work of every algorithm, in manual optimisation.

One training step = one on-policy rollout (an epoch):
1. GAE for reward and cost (TorchRL, separate critics), episode statistics gathered from every
   process, env-step and cost counters;
2. the algorithm's ``update`` on the unmerged batch (raw advantages and targets, behaviour
   log-probs, Jc, the cost limit): it steps its constraint, its actor (gradients through the SHAPO
   step when asked) and the critics (SAM per critic when asked);
3. the NaN guard on every parameter, and per-epoch metrics left in ``epoch_metrics`` for the
   metrics callback (metrics.csv and any Lightning logger).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import partial

import lightning as L
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictSequential
from torch import Tensor, nn
from torchrl.modules import ProbabilisticActor

from shapo_rl import keys
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.algorithms.registry import get_algorithm
from shapo_rl.checkpoint_io import CHECKPOINT_FORMAT
from shapo_rl.config import TrainConfig
from shapo_rl.envs.workers import available_cores
from shapo_rl.models import GaussianPolicy, make_collection_policy, make_critics
from shapo_rl.optim import SharpnessAwareGradient, identity_reduce, implied_percentile, make_schedule
from shapo_rl.optim.critic_regression import METRICS as CRITIC_METRICS
from shapo_rl.optim.critic_regression import CriticRegression, critic_optimizer
from shapo_rl.optim.trust_region import check_finite
from shapo_rl.rollout import AdvantageEstimator, episode_statistics
from shapo_rl.rollout.episode_window import EpisodeWindow

# The child process of an overlapped critic regression takes about 1.3 s to import torch, beside
# the first rollout, while overlapping saves about 0.5 s an epoch of 20,000 steps: shorter runs,
# where that hardly counts, regress in place by default.
OVERLAP_MIN_STEPS = 200_000
LOG_WINDOW = 50  # episodes behind the ep_return_last50 / ep_cost_last50 columns (the reference's logs)


class SafePolicyOptimization(L.LightningModule):
    """Actor, critics and the algorithm of one run.

    ``overlap_critics``: on one process, regress the critics of epoch k in a child process while
    collecting the rollout of epoch k+1 (the data module's ``collect_ahead``); False runs the two
    one after the other; None (the default) overlaps runs of at least ``OVERLAP_MIN_STEPS`` on a
    machine with at least two cores.
    Both give the same numbers bit for bit.
    """

    def __init__(self, config: TrainConfig, *, obs_dim: int, act_dim: int, cost_limit: float,
                 obs_normalizer: nn.Module | None = None, overlap_critics: bool | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.config = config
        self.cost_limit = float(cost_limit)
        hidden = config.model.hidden_sizes
        self.policy = GaussianPolicy(obs_dim, act_dim, hidden, config.model.init_log_std, config.model.actor_init)
        self.critics = make_critics(obs_dim, hidden, config.critic.init)  # reward (member 0) and cost (member 1)
        self.critic_regression = CriticRegression(self.critics.module.net, config.critic)
        self.overlap_critics = overlap_critics
        self.algorithm = get_algorithm(config.algo).build(config, self.cost_limit, obs_dim, act_dim)
        self.obs_normalizer = obs_normalizer
        values = TensorDictSequential(self.critics, *self.algorithm.value_modules())
        self.advantages = AdvantageEstimator(values, gamma=config.gamma, cost_gamma=config.cost_gamma,
                                             lmbda=config.gae_lambda)
        self.radius_schedule = make_schedule(config.shapo.schedule, config.shapo.radius, config.shapo.percentile)
        self.gradient: SharpnessAwareGradient | None = None  # built with the optimisers (it needs the reduce)
        # Training progress that a resumed run must continue from (saved in state_dict).
        self.register_buffer("env_steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("total_cost", torch.zeros((), dtype=torch.float64))
        self.register_buffer("episodes", torch.zeros((), dtype=torch.int64))
        self.recent_episodes = EpisodeWindow(max(LOG_WINDOW, config.episode_cost_window))
        self.epoch_metrics: dict[str, float] = {}
        # The normaliser's statistics at the end of this epoch, while the next epoch's rollout,
        # collected ahead, has already moved them: what this epoch's checkpoint holds.
        self._normalizer_at_epoch_end: dict[str, Tensor] | None = None

    def make_collection_policy(self) -> ProbabilisticActor:
        """The TorchRL actor for evaluation episodes; it shares parameters with ``self.policy``."""
        return make_collection_policy(self.policy)

    # ----------------------------------------------------------------------------- optimisers
    @property
    def _processes(self) -> int:
        """Training processes: the trainer's world size, 1 outside a trainer."""
        return 1 if self.trainer is None else self.trainer.world_size

    def _reduce(self) -> Callable[[Tensor], Tensor]:
        """Mean over processes for values computed with autograd.grad (DDP does not sync those)."""
        if self._processes == 1:
            return identity_reduce
        return partial(self.trainer.strategy.reduce, reduce_op="mean")

    def configure_optimizers(self):
        cfg, reduce = self.config, self._reduce()
        shapo = cfg.shapo
        self.gradient = SharpnessAwareGradient(self.policy.parameters(), shapo.geometry, damping=shapo.damping,
                                               cg_iters=shapo.cg_iters, reduce=reduce,
                                               fallback=shapo.fallback_fraction)
        critics = critic_optimizer(self.critics.module.net, cfg, reduce)
        return [*self.algorithm.configure_optimizers(self.policy, reduce), critics]

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: TensorDictBase, batch_idx: int) -> None:
        cfg = self.config
        self._normalizer_at_epoch_end = None
        for name, key in (("observations", keys.OBSERVATION), ("rewards", ("next", keys.REWARD)),
                          ("costs", ("next", keys.COST))):
            check_finite(name, batch[key])
        self.advantages(batch)
        episodes = self._gather(episode_statistics(batch))
        self.env_steps += batch.numel() * self._processes  # every process collects the same number
        self.total_cost += self._sum(batch["next", keys.COST].sum().double())
        self.episodes += episodes["cost"].numel()
        self.recent_episodes.add(episodes["return"], episodes["cost"])
        if cfg.episode_cost_window > 0:  # Jc over the last episodes, as the reference library
            episode_cost = self.recent_episodes.mean(cfg.episode_cost_window)[1]
        else:
            episode_cost = float(episodes["cost"].mean()) if episodes["cost"].numel() > 0 else math.nan
        update_batch = UpdateBatch.from_rollout(batch.reshape(-1), episode_cost=episode_cost,
                                                cost_limit=self.cost_limit)
        with torch.no_grad():  # 0 unless the rollout came from a stale policy
            policy_lag = (self.policy.distribution(update_batch.obs).log_prob(update_batch.actions)
                          - update_batch.old_log_prob).abs().max()

        *actor_optimizers, critic_optimizer = self._optimizer_list()
        radius = self.radius_schedule.radius(self.current_epoch, int(self.env_steps))
        self.gradient.radius = radius
        collect_ahead = self._next_rollout_collector()

        def update_critics(data: UpdateBatch) -> dict[str, float]:
            """Start the regression; its losses are filled in once it is joined below."""
            self.critic_regression.start(data.obs, data.reward_target, data.cost_target, critic_optimizer.optimizer,
                                         background=collect_ahead is not None)
            return dict.fromkeys(CRITIC_METRICS, math.nan)

        context = UpdateContext(policy=self.policy, optimizers=actor_optimizers, gradient=self.gradient,
                                reduce=self._reduce(), total=None if self._processes == 1 else self._sum,
                                backward=self._backward, update_critics=update_critics,
                                kl_reduction=cfg.model.kl_reduction)
        start = time.perf_counter()
        update_metrics = self.algorithm.update(update_batch, context)
        for name, param in self.policy.named_parameters():
            check_finite(f"actor parameter {name}", param)
        background = self.critic_regression.running
        update_seconds = time.perf_counter() - start
        if background:
            self._collect_ahead(collect_ahead)
        update_metrics.update(self.critic_regression.join())
        critic_seconds = self.critic_regression.seconds

        shapo_on = cfg.shapo.geometry != "none"
        self.epoch_metrics = {
            **self._episode_metrics(episodes),
            "lagrange_multiplier": self.algorithm.multiplier,
            **update_metrics,
            "policy_lag": float(policy_lag),
            "shapo_radius": radius if shapo_on else 0.0,
            "shapo_percentile": implied_percentile(radius, int(self.env_steps)) if shapo_on else float("nan"),
            "actor_seconds": update_seconds - (0.0 if background else critic_seconds),
            "critic_seconds": critic_seconds,
        }

    def _next_rollout_collector(self) -> Callable[[int], None] | None:
        """The data module's ``collect_ahead`` where this epoch's critic regression can run beside
        the next epoch's rollout: one process, a next epoch to train, a data module that can."""
        trainer = self.trainer
        overlap = self.overlap_critics
        if overlap is None:  # a long run, with a core for the child beside the rollout's
            overlap = self.config.steps >= OVERLAP_MIN_STEPS and available_cores() >= 2
        if not overlap or self._processes != 1:
            return None
        if self.current_epoch + 1 >= trainer.max_epochs or trainer.should_stop:
            return None
        return getattr(trainer.datamodule, "collect_ahead", None)

    def _collect_ahead(self, collect_ahead: Callable[[int], None]) -> None:
        """Collect the next epoch's rollout now, keeping the normaliser's statistics of this
        epoch's end for its checkpoint (the rollout moves them; resuming from the checkpoint
        collects the same rollout again from them)."""
        if self.obs_normalizer is not None:
            self._normalizer_at_epoch_end = {name: value.clone() for name, value
                                             in self.obs_normalizer.state_dict().items()}
        collect_ahead(self.current_epoch + 1)

    def _optimizer_list(self) -> list:
        optimizers = self.optimizers()
        return optimizers if isinstance(optimizers, list) else [optimizers]

    def _gather(self, episodes: dict[str, Tensor]) -> dict[str, Tensor]:
        """The episodes of every process (their counts differ: padded with NaN, gathered, unpadded),
        so the metrics and the multiplier see the whole run's episodes."""
        if self._processes == 1:
            return episodes
        count = int(self.all_gather(torch.tensor(episodes["cost"].numel())).max())
        padded = torch.full((len(episodes), count), float("nan"), dtype=torch.float64)
        for row, values in zip(padded, episodes.values()):
            row[: values.numel()] = values.double()
        gathered = self.all_gather(padded).transpose(0, 1).reshape(len(episodes), -1)
        keep = ~gathered[0].isnan()
        return {name: values[keep] for name, values in zip(episodes, gathered)}

    def _sum(self, value: Tensor) -> Tensor:
        """``value`` summed over processes."""
        if self._processes == 1:
            return value
        return self.trainer.strategy.reduce(value, reduce_op="sum")

    def _backward(self, loss: Tensor, optimizer, max_norm: float) -> None:
        """Lightning's backward (DDP synchronises the gradients), then clip their norm."""
        self.manual_backward(loss)
        self.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")

    def _episode_metrics(self, episodes: dict[str, Tensor]) -> dict[str, float]:
        costs = episodes["cost"]
        nan = float("nan")
        have = costs.numel() > 0
        quantile = lambda q: float(torch.quantile(costs.double(), q)) if have else nan  # noqa: E731
        env_steps = int(self.env_steps)
        last_return, last_cost = self.recent_episodes.mean(LOG_WINDOW)
        return {
            "epoch": self.current_epoch,
            "env_steps": env_steps,
            "episodes": costs.numel(),
            "ep_return": float(episodes["return"].mean()) if have else nan,
            "ep_cost": float(costs.mean()) if have else nan,
            "ep_length": float(episodes["length"].mean()) if have else nan,
            "cost_rate": float(self.total_cost) / max(env_steps, 1),
            "total_cost": float(self.total_cost),
            "ep_cost_p90": quantile(0.90),
            "ep_cost_p95": quantile(0.95),
            "ep_cost_p99": quantile(0.99),
            "violation_rate": float((costs > self.cost_limit).double().mean()) if have else nan,
            f"ep_return_last{LOG_WINDOW}": last_return,
            f"ep_cost_last{LOG_WINDOW}": last_cost,
        }

    def on_train_start(self) -> None:
        if self._next_rollout_collector() is not None:  # the child imports torch beside the first rollout
            self.critic_regression.launch()

    def teardown(self, stage: str) -> None:
        self.critic_regression.close()

    # ----------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["shapo_rl"] = {"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(),
                                  "cost_limit": self.cost_limit}
        if self._normalizer_at_epoch_end is not None:
            for name, value in self._normalizer_at_epoch_end.items():
                checkpoint["state_dict"][f"obs_normalizer.{name}"] = value


