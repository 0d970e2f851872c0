"""The algorithm protocol: what the LightningModule hands an algorithm, and what it gets back.

An algorithm is an ``nn.Module`` (so its multipliers, extra networks and optimiser moments travel
in checkpoints) built from its frozen config, the cost limit and the run's :class:`Discounts`
(the gammas and GAE lambda its batches' advantages were computed with; CUP weighs its cost term
with them). Once per epoch the module calls ``update(batch, context)`` with an
:class:`UpdateBatch` -- the rollout flattened, with the raw reward and cost advantages and value
targets, the behaviour policy's log-prob/loc/scale, the epoch's Jc and the cost limit -- and logs
the named metrics it returns. The algorithm normalises and combines advantages itself
(:meth:`UpdateContext.standardized` is the shared helper), steps its constraint, its actor
(gradients through ``context.gradient``, the SHAPO step) and calls ``context.update_critics``.
An algorithm that changes the MDP (Saute's safety state) declares its env transforms in
:meth:`Algorithm.env_transforms`; every env of a run (training, evaluation, attacks, videos, the
dimension probe of a checkpoint reload) is built with them.

Two generic extensions serve algorithms with networks of their own (the quantile cost critic of
DTRPO, sTRPO's frozen unsafe policy): :meth:`Algorithm.from_run` builds an algorithm from the
whole run configuration and the task's dimensions, and :meth:`Algorithm.value_modules` lets an
algorithm's critic overwrite a shared critic's values before GAE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import Tensor, nn
from torchrl.envs import Transform

from shapo_rl import keys
from shapo_rl.config import TrainConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce, SharpnessAwareGradient
from shapo_rl.rollout import standardize


@dataclass(frozen=True)
class Discounts:
    """The discounts behind the batch's GAE advantages (the run's gamma, cost_gamma, gae_lambda)."""

    gamma: float
    cost_gamma: float
    gae_lambda: float

    @classmethod
    def of(cls, config: TrainConfig) -> "Discounts":
        return cls(config.gamma, config.cost_gamma, config.gae_lambda)


@dataclass(frozen=True)
class UpdateBatch:
    """One epoch's on-policy data, flat over envs and time ([N] or [N, dim])."""

    obs: Tensor
    actions: Tensor
    old_log_prob: Tensor
    old_loc: Tensor
    old_scale: Tensor
    reward_advantage: Tensor
    cost_advantage: Tensor
    reward_target: Tensor
    cost_target: Tensor
    episode_cost: float  # Jc: mean undiscounted cost of the epoch's finished episodes (nan: none finished)
    cost_limit: float
    raw_obs: Tensor | None = None  # the observations before normalisation, where the algorithm keeps them

    @classmethod
    def from_rollout(cls, flat: TensorDictBase, *, episode_cost: float, cost_limit: float) -> "UpdateBatch":
        return cls(flat[keys.OBSERVATION], flat[keys.ACTION], flat[keys.ACTION_LOG_PROB], flat[keys.LOC],
                   flat[keys.SCALE], flat[keys.ADVANTAGE].squeeze(-1), flat[keys.COST_ADVANTAGE].squeeze(-1),
                   flat[keys.VALUE_TARGET], flat[keys.COST_VALUE_TARGET], episode_cost, cost_limit,
                   flat.get(keys.RAW_OBSERVATION, None))

    def __len__(self) -> int:
        return self.obs.shape[0]

    @property
    def has_episode_cost(self) -> bool:
        return math.isfinite(self.episode_cost)

    def penalized_advantage(self, multiplier: float) -> Tensor:
        """GAE of the penalised reward r - lambda c with the value V_r - lambda V_c: A_r - lambda A_c.

        GAE is linear in the rewards and the values together (each delta_t is, and the cut at
        episode ends and the bootstrap at truncations are the same for both signals), so this is
        exactly the advantage of the penalised return sum_t gamma^t (r_t - lambda c_t) whose
        value is V_r - lambda V_c -- when the cost discount equals the reward's (the default);
        with another cost discount each term keeps its own, sum_t gamma^t r_t - lambda
        sum_t gamma_c^t c_t. The combined value is exact for the current lambda, where a critic of
        its own would chase every change of the multiplier.
        """
        return self.reward_advantage - multiplier * self.cost_advantage


@dataclass
class UpdateContext:
    """The shared parts an algorithm composes its update from.

    ``optimizers`` are the algorithm's own (from its ``configure_optimizers``, wrapped by
    Lightning); ``gradient`` is the SHAPO step at this epoch's radius (plain gradients when SHAPO
    is off); ``reduce`` averages over training processes and ``total`` sums (None on one process);
    ``backward(loss, optimizer, max_norm)`` fills ``.grad`` through Lightning (DDP-synchronised)
    and clips its norm; ``update_critics(batch)`` regresses both critics on their targets,
    possibly beside the next rollout, so an algorithm calls it last and reads no critic after it
    (its losses are filled in when the regression is joined);
    ``kl_reduction`` is how the trust region and the SHAPO ball measure the policy's KL.
    """

    policy: GaussianPolicy
    optimizers: list[Any]
    gradient: SharpnessAwareGradient
    reduce: Reduce
    total: Callable[[Tensor], Tensor] | None
    backward: Callable[[Tensor, Any, float], None]
    update_critics: Callable[[UpdateBatch], dict[str, float]]
    kl_reduction: str = "sum"

    def standardized(self, batch: UpdateBatch) -> tuple[Tensor, Tensor]:
        """(z-scored A_r, centred A_c) over the batch of every process, as the reference library:
        the multiplier then trades standardised reward against cost in its own units."""
        return (standardize(batch.reward_advantage, total=self.total),
                standardize(batch.cost_advantage, scale=False, total=self.total))


class Algorithm(nn.Module):
    """Base of every algorithm: holds its config, the cost limit d and the run's discounts.
    ``keeps_raw_observation``: its rollouts also keep the observations before normalisation
    (``UpdateBatch.raw_obs``)."""

    keeps_raw_observation: ClassVar[bool] = False

    def __init__(self, config: Any, *, cost_limit: float, discounts: Discounts) -> None:
        super().__init__()
        self.config = config
        self.cost_limit = float(cost_limit)
        self.discounts = discounts

    @classmethod
    def env_transforms(cls, config: Any, *, cost_limit: float, episode_steps: int) -> list[Transform]:
        """The TorchRL transforms this algorithm's MDP adds to the task (appended last by
        ``make_env``), for its config, the cost limit d and the episode length T; none by default.
        Raises :class:`~shapo_rl.config.ConfigError` for a run the algorithm cannot take."""
        return []

    @classmethod
    def from_run(cls, run: TrainConfig, *, cost_limit: float, obs_dim: int, act_dim: int) -> "Algorithm":
        """Build from the run's configuration and the task's dimensions; an algorithm that owns
        networks sized by the task (or reads files named in its config) overrides this."""
        return cls(run.algorithm, cost_limit=cost_limit, discounts=Discounts.of(run))

    def value_modules(self) -> list[TensorDictModuleBase]:
        """Modules run on the states after the shared critics and before GAE, writing over their
        values (``keys.VALUE``, ``keys.COST_VALUE``); none by default."""
        return []

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce) -> list[torch.optim.Optimizer]:
        """The actor's optimisers (checkpointed by Lightning); none by default."""
        return []

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        raise NotImplementedError

    @property
    def multiplier(self) -> float:
        """The current weight of the cost (the ``lagrange_multiplier`` column); 0 when ignored."""
        return 0.0
