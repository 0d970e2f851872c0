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
from shapo_rl.models import GaussianPolicy, make_collection_policy, make_critics
from shapo_rl.optim import SAM, SharpnessAwareGradient, identity_reduce, implied_percentile, make_schedule
from shapo_rl.optim.trust_region import NonFiniteError
from shapo_rl.rollout import AdvantageEstimator, episode_statistics
from shapo_rl.rollout.episode_window import EpisodeWindow

LOG_WINDOW = 50  # episodes behind the ep_return_last50 / ep_cost_last50 columns (the reference's logs)


def check_finite(name: str, value: Tensor) -> None:
    """Stop the run, naming the quantity, as soon as a NaN or inf appears."""
    if not torch.isfinite(value).all():
        raise NonFiniteError(f"non-finite values in {name}")


class SafePolicyOptimization(L.LightningModule):
    def __init__(self, config: TrainConfig, *, obs_dim: int, act_dim: int, cost_limit: float,
                 obs_normalizer: nn.Module | None = None):
        super().__init__()
        self.automatic_optimization = False
        self.config = config
        self.cost_limit = float(cost_limit)
        hidden = config.model.hidden_sizes
        self.policy = GaussianPolicy(obs_dim, act_dim, hidden, config.model.init_log_std, config.model.actor_init)
        self.critics = make_critics(obs_dim, hidden)  # reward (member 0) and cost (member 1)
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
                                               cg_iters=shapo.cg_iters, reduce=reduce)
        # The L2 penalty l2 ||w||^2 of the critic loss enters as Adam's weight decay (its gradient
        # 2 l2 w); SAM perturbs along the MSE's gradient only. A critic without SAM has radius 0.
        critics = SAM(self.critics.parameters(), torch.optim.Adam, rho=shapo.critic_sam_radii(), members=2,
                      reduce=reduce, max_grad_norm=cfg.critic.max_grad_norm, lr=cfg.critic.lr,
                      weight_decay=2 * cfg.critic.l2, fused=True)
        return [*self.algorithm.configure_optimizers(self.policy, reduce), critics]

    # ----------------------------------------------------------------------------- training
    def training_step(self, batch: TensorDictBase, batch_idx: int) -> None:
        cfg = self.config
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
        critic_seconds = 0.0

        def update_critics(data: UpdateBatch) -> dict[str, float]:
            nonlocal critic_seconds
            start = time.perf_counter()
            metrics = self._update_critics(data, critic_optimizer.optimizer)
            critic_seconds += time.perf_counter() - start
            return metrics

        context = UpdateContext(policy=self.policy, optimizers=actor_optimizers, gradient=self.gradient,
                                reduce=self._reduce(), total=None if self._processes == 1 else self._sum,
                                backward=self._backward, update_critics=update_critics,
                                kl_reduction=cfg.model.kl_reduction)
        start = time.perf_counter()
        update_metrics = self.algorithm.update(update_batch, context)
        update_seconds = time.perf_counter() - start
        for name, param in self.policy.named_parameters():
            check_finite(f"actor parameter {name}", param)

        shapo_on = cfg.shapo.geometry != "none"
        self.epoch_metrics = {
            **self._episode_metrics(episodes),
            "lagrange_multiplier": self.algorithm.multiplier,
            **update_metrics,
            "policy_lag": float(policy_lag),
            "shapo_radius": radius if shapo_on else 0.0,
            "shapo_percentile": implied_percentile(radius, int(self.env_steps)) if shapo_on else float("nan"),
            "actor_seconds": update_seconds - critic_seconds,
            "critic_seconds": critic_seconds,
        }

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

    def _update_critics(self, batch: UpdateBatch, optimizer: SAM) -> dict[str, float]:
        """Regress V_r and V_c on their GAE targets: ``update_iters`` passes of shuffled minibatches.

        Each minibatch step is one ``SAM.step`` on the two critics' MSEs (one per member of the
        stacked critics; gradients by ``StackedMLP.squared_error_gradients``), i.e. Adam on
        MSE + l2 ||w||^2 for a critic with radius 0 and SAM (Foret et al.) for one with radius
        rho_c. The optimiser is stepped directly, without Lightning's per-step wrapper
        (``trainer.global_step`` then counts actor steps only). A non-finite loss stops the run
        once the regression is through.
        """
        cfg = self.config.critic
        net = self.critics.module.net
        obs = batch.obs
        targets = torch.cat([batch.reward_target, batch.cost_target], dim=-1)  # [N, 2]
        totals = torch.zeros(2, dtype=torch.float64)
        steps = 0
        for _ in range(cfg.update_iters):
            order = torch.randperm(obs.shape[0])  # one gather per pass, minibatches are its slices
            for batch_obs, batch_targets in zip(obs[order].split(cfg.minibatch_size),
                                                targets[order].split(cfg.minibatch_size)):
                totals += optimizer.step(partial(net.squared_error_gradients, batch_obs, batch_targets))
                steps += 1
        check_finite("critic loss", totals)  # the losses are >= 0: their sum is finite iff each is
        for name, param in self.critics.named_parameters():
            check_finite(f"critic parameter {name}", param)
        return {"reward_critic_loss": float(totals[0]) / steps, "cost_critic_loss": float(totals[1]) / steps}

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

    # ----------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["shapo_rl"] = {"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(),
                                  "cost_limit": self.cost_limit}


