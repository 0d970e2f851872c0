"""The unsafe policy of sTRPO (Section 4.1 of the sTRPO paper): TRPO maximising cost.

``unsafe-trpo`` solves eq. (3): one natural-gradient step on the surrogate of the (z-scored) cost
advantage A^c, the reward ignored. ``unsafe-dtrpo`` ("DTRPO") takes A^c from a quantile cost critic
instead of the scalar one: GAE runs on the TD residual of eq. (4),
xi_t = c_t + gamma V_CVaR(s_{t+1}) - V_CVaR(s_t), with V_CVaR the CVaR_alpha of the critic's
cost-return quantiles over their upper alpha-tail, and the critic regresses on the resulting
lambda-returns with the quantile Huber loss (Dabney et al. 2018). The shared scalar cost critic
is still fitted (its loss is logged) but its values are not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tensordict.nn import TensorDictModule, TensorDictModuleBase

from shapo_rl import keys
from shapo_rl.algorithms.actor_steps import trust_region_step
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.config import CriticConfig, TrainConfig, TrustRegionConfig, require
from shapo_rl.models import GaussianPolicy, QuantileCritic, quantile_huber_loss
from shapo_rl.optim import Reduce, TrustRegionOptimizer
from shapo_rl.rollout import standardize


@dataclass(frozen=True)
class UnsafeTRPOConfig:
    """``distributional``: DTRPO's quantile cost critic with ``quantiles`` outputs and CVaR level
    ``cvar_alpha`` (the upper tail's mass; our defaults, the paper gives none)."""

    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)
    distributional: bool = False
    quantiles: int = 32
    cvar_alpha: float = 0.1

    def __post_init__(self):
        require(self.quantiles >= 1, f"quantiles must be >= 1, got {self.quantiles}")
        require(0 < self.cvar_alpha <= 1, f"cvar_alpha must lie in (0, 1], got {self.cvar_alpha}")


class UnsafeTRPO(Algorithm):
    def __init__(self, config: UnsafeTRPOConfig, *, cost_limit: float, discounts: Discounts,
                 cost_critic: QuantileCritic | None = None, critic: CriticConfig | None = None) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        self.cost_critic = cost_critic
        self.critic = critic or CriticConfig()

    @classmethod
    def from_run(cls, run: TrainConfig, *, cost_limit: float, obs_dim: int, act_dim: int) -> "UnsafeTRPO":
        config: UnsafeTRPOConfig = run.algorithm
        critic = (QuantileCritic(obs_dim, run.model.hidden_sizes, config.quantiles, config.cvar_alpha)
                  if config.distributional else None)
        return cls(config, cost_limit=cost_limit, discounts=Discounts.of(run), cost_critic=critic, critic=run.critic)

    def value_modules(self) -> list[TensorDictModuleBase]:
        if self.cost_critic is None:
            return []
        return [TensorDictModule(self.cost_critic, in_keys=[keys.OBSERVATION], out_keys=[keys.COST_VALUE])]

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        tr = self.config.trust_region
        actor = TrustRegionOptimizer(policy.parameters(), max_kl=tr.max_kl, cg_iters=tr.cg_iters, damping=tr.damping,
                                     backtrack_ratio=tr.backtrack_ratio, backtrack_iters=tr.backtrack_iters,
                                     reduce=reduce)
        if self.cost_critic is None:
            return [actor]
        return [actor, torch.optim.Adam(self.cost_critic.parameters(), lr=self.critic.lr)]

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        advantage = standardize(batch.cost_advantage, total=context.total)  # eq. (3): A^c as the reward
        metrics = {**trust_region_step(context, batch, advantage), **context.update_critics(batch)}
        if self.cost_critic is not None:
            metrics["quantile_critic_loss"] = self._fit_quantiles(batch, context)
        return metrics

    def _fit_quantiles(self, batch: UpdateBatch, context: UpdateContext) -> float:
        """Adam minibatch epochs of the quantile Huber loss on the cost lambda-returns."""
        optimizer = context.optimizers[1]
        target = batch.cost_target.squeeze(-1)
        total, steps = 0.0, 0
        for _ in range(self.critic.update_iters):
            for index in torch.randperm(len(batch)).split(self.critic.minibatch_size):
                optimizer.zero_grad()
                loss = quantile_huber_loss(self.cost_critic.quantiles(batch.obs[index]), target[index])
                context.backward(loss, optimizer, self.critic.max_grad_norm)
                optimizer.step()
                total += float(loss.detach())
                steps += 1
        return total / steps

