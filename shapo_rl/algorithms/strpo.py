"""sTRPO: Safe Trust Region Policy Optimization with region exclusion (the sTRPO paper, Sections 4.2-4.3).

Per epoch: the PID multiplier lambda steps on Jc - d; the joint advantage of eq. (6) is
A = z(A_r) - lambda z(A_c), both streams z-scored over the batch; with the surrogate gradient g and
the exclusion gradient of eq. (7), the gradient of KL(pi_unsafe || pi_theta) at theta_k,

    phi = E_{pi_k}[-(pi_unsafe(a|s) / pi_k(a|s)) grad log pi_theta(a|s)]   (the ratio clipped),

the step solves eq. (8) (:mod:`shapo_rl.optim.exclusion_step`, which also gives the reading of
eqs. 9-10 taken): direction F^-1 (g + lam phi), lam at least lambda_2 in units of
|g|_F^-1 / |phi|_F^-1 and raised until the step reaches delta_2 further from pi_unsafe, its length
from delta_1; backtracking re-solves at smaller radii; if no radius qualifies, the most
separating step F^-1 phi is backtracked until its KL is at most delta_1 (``fallback=trust-region``:
TRPO's step on the joint advantage instead, which keeps learning once phi has vanished).

The unsafe policy is read (weights only) from an ``unsafe-trpo`` / ``unsafe-dtrpo`` run, frozen
with its own frozen observation normaliser, and kept as a submodule so it travels in checkpoints.
It sees the raw observations of the rollout through that normaliser.

Ablations are switches: ``joint_advantage=false`` ascends plain z(A_r); ``unsafe_objective=false``
drops phi and takes TRPO's step on the joint advantage (the actor step of trpo-pid, bit for bit);
delta_1 is ``trust_region.max_kl``, delta_2 ``exclusion_margin``, lambda_2 ``exclusion_weight``.
With SHAPO, g is the joint surrogate's gradient at its pessimistic neighbour; phi stays at theta_k.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from shapo_rl.algorithms.actor_steps import kl_to_behaviour, perturbation_metrics, surrogate, trust_region_step
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.checkpoint_io import CheckpointError, checkpoint_path, read_checkpoint
from shapo_rl.config import ConfigError, PIDConfig, TrainConfig, TrustRegionConfig, require
from shapo_rl.constraints import PIDLagrangian
from shapo_rl.envs import ObservationNormalizer
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import Reduce, TrustRegionOptimizer, fisher_vector_product, flat_grad, get_flat_params
from shapo_rl.optim.exclusion_step import FALLBACKS, exclusion_step
from shapo_rl.rollout import standardize


@dataclass(frozen=True)
class STRPOConfig:
    """Defaults of the paper: delta_1 = ``trust_region.max_kl`` 1e-2, delta_2 = ``exclusion_margin``
    1e-4, lambda_2 = ``exclusion_weight`` 1.0 (the least weight of phi, in units of
    |g|_F^-1 / |phi|_F^-1: 1 weighs both natural directions equally); ``ratio_clip`` bounds
    pi_unsafe / pi_k in phi (ours); ``fallback`` is the step where eq. 8 is infeasible,
    ``separating`` (along F^-1 phi, the default) or ``trust-region`` (TRPO's step), see
    :mod:`shapo_rl.optim.exclusion_step`.
    ``unsafe_policy``: the run directory or checkpoint of an unsafe policy on the same task."""

    unsafe_policy: str = ""
    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)
    exclusion_margin: float = 1e-4
    exclusion_weight: float = 1.0
    ratio_clip: float = 10.0
    fallback: str = "separating"
    joint_advantage: bool = True
    unsafe_objective: bool = True
    pid: PIDConfig = field(default_factory=PIDConfig)

    def __post_init__(self):
        require(0 <= self.exclusion_margin < math.inf, f"exclusion_margin must be >= 0, got {self.exclusion_margin}")
        require(0 <= self.exclusion_weight < math.inf, f"exclusion_weight must be >= 0, got {self.exclusion_weight}")
        require(1 <= self.ratio_clip < math.inf, f"ratio_clip must be >= 1, got {self.ratio_clip}")
        require(self.fallback in FALLBACKS,
                f"fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")


def exclusion_weights(unsafe_log_prob: Tensor, old_log_prob: Tensor, clip: float) -> tuple[Tensor, float]:
    """(min(pi_unsafe / pi_k, clip), the fraction of samples clipped) of eq. (7)."""
    ratio = torch.exp(unsafe_log_prob - old_log_prob)
    return ratio.clamp(max=clip), float((ratio > clip).double().mean())


def exclusion_objective(policy: GaussianPolicy, obs: Tensor, actions: Tensor, weights: Tensor) -> Tensor:
    """-mean[w log pi_theta(a|s)]: its gradient at theta_k is phi of eq. (7) (w fixed)."""
    return -(weights * policy.distribution(obs).log_prob(actions)).mean()


def load_unsafe_policy(path: str | Path, *, env: str, obs_dim: int, act_dim: int
                       ) -> tuple[GaussianPolicy, ObservationNormalizer | None]:
    """The frozen policy and observation normaliser of the run or checkpoint ``path`` (weights
    only), checked against the task: same env id, observation and action dimensions."""
    ckpt = checkpoint_path(Path(path))
    checkpoint = read_checkpoint(ckpt)
    config, state = checkpoint["shapo_rl"].get("config", {}), checkpoint.get("state_dict", {})
    if config.get("env") != env:
        raise CheckpointError(f"the unsafe policy {ckpt} was trained on {config.get('env')}, not {env}")
    weight, log_std = state.get("policy.mean.0.weight"), state.get("policy.log_std")
    if weight is None or log_std is None:
        raise CheckpointError(f"{ckpt} holds no Gaussian policy")
    if (weight.shape[1], log_std.shape[0]) != (obs_dim, act_dim):
        raise CheckpointError(f"the unsafe policy {ckpt} has observation/action dims {weight.shape[1]}/"
                              f"{log_std.shape[0]}, the task {obs_dim}/{act_dim}")
    model = config.get("model", {})
    hidden = [state[f"policy.mean.{i}.weight"].shape[0] for i in range(0, 2 * len(model.get("hidden_sizes", [])), 2)]
    policy = GaussianPolicy(obs_dim, act_dim, hidden)
    normalizer = (ObservationNormalizer(obs_dim, clip=config.get("obs_clip", 10.0),
                                        std_floor=config.get("obs_std_floor", 0.0),
                                        prior_count=config.get("obs_prior_count", 0.0))
                  if config.get("normalize_obs") else None)
    try:
        policy.load_state_dict({k.removeprefix("policy."): v for k, v in state.items() if k.startswith("policy.")})
        if normalizer is not None:
            normalizer.load_state_dict({k.removeprefix("obs_normalizer."): v for k, v in state.items()
                                        if k.startswith("obs_normalizer.")})
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(f"{ckpt} does not hold a policy of this shape: {str(err).splitlines()[0]}") from None
    policy.requires_grad_(False)
    if normalizer is not None:
        normalizer.frozen = True
    return policy, normalizer


class STRPO(Algorithm):
    keeps_raw_observation = True

    def __init__(self, config: STRPOConfig, *, cost_limit: float, discounts: Discounts,
                 unsafe_policy: GaussianPolicy | None = None, unsafe_normalizer: ObservationNormalizer | None = None
                 ) -> None:
        super().__init__(config, cost_limit=cost_limit, discounts=discounts)
        self.penalty = PIDLagrangian(cost_limit, **dataclasses.asdict(config.pid))
        self.unsafe_policy = unsafe_policy
        self.unsafe_normalizer = unsafe_normalizer

    @classmethod
    def from_run(cls, run: TrainConfig, *, cost_limit: float, obs_dim: int, act_dim: int) -> "STRPO":
        config: STRPOConfig = run.algorithm
        if not config.unsafe_objective:
            return cls(config, cost_limit=cost_limit, discounts=Discounts.of(run))
        if not config.unsafe_policy:
            raise ConfigError("strpo needs an unsafe policy: --unsafe-policy RUN_OR_CHECKPOINT "
                              "(or --set unsafe_objective=false)")
        policy, normalizer = load_unsafe_policy(config.unsafe_policy, env=run.env, obs_dim=obs_dim, act_dim=act_dim)
        return cls(config, cost_limit=cost_limit, discounts=Discounts.of(run), unsafe_policy=policy,
                   unsafe_normalizer=normalizer)

    def configure_optimizers(self, policy: GaussianPolicy, reduce: Reduce):
        tr = self.config.trust_region
        return [TrustRegionOptimizer(policy.parameters(), max_kl=tr.max_kl, cg_iters=tr.cg_iters, damping=tr.damping,
                                     backtrack_ratio=tr.backtrack_ratio, backtrack_iters=tr.backtrack_iters,
                                     reduce=reduce)]

    def joint_advantage(self, batch: UpdateBatch, context: UpdateContext) -> Tensor:
        """Eq. (6): z(A_r) - lambda z(A_c); plain z(A_r) without the joint advantage."""
        adv_r = standardize(batch.reward_advantage, total=context.total)
        if not self.config.joint_advantage:
            return adv_r
        return adv_r - self.penalty.multiplier * standardize(batch.cost_advantage, total=context.total)

    def unsafe_log_prob(self, batch: UpdateBatch) -> Tensor:
        """log pi_unsafe(a|s) on the rollout's raw observations (``batch.obs`` in a run without
        normalisation), normalised by the unsafe run's own frozen statistics."""
        obs = batch.obs if batch.raw_obs is None else batch.raw_obs
        if self.unsafe_normalizer is not None:
            obs = self.unsafe_normalizer.normalize(obs)
        with torch.no_grad():
            return self.unsafe_policy.distribution(obs).log_prob(batch.actions)

    def update(self, batch: UpdateBatch, context: UpdateContext) -> dict[str, float]:
        if batch.has_episode_cost:
            self.penalty.update(batch.episode_cost)
        advantage = self.joint_advantage(batch, context)
        if not self.config.unsafe_objective:
            metrics = {**trust_region_step(context, batch, advantage), "exclusion_margin": 0.0, "fallback": 0.0,
                       "ratio_clip_rate": 0.0}
        else:
            metrics = self.exclusion_step(batch, context, advantage)
        return {**metrics, **context.update_critics(batch)}

    def exclusion_step(self, batch: UpdateBatch, context: UpdateContext, advantage: Tensor) -> dict[str, float]:
        """Eqs. (7)-(10): the step of the safe trust region, with its fallback."""
        cfg, tr = self.config, self.config.trust_region
        policy, params = context.policy, list(context.policy.parameters())
        closure, kl_fn = surrogate(policy, batch, advantage), kl_to_behaviour(context, batch)
        gradient = context.gradient.step(closure, kl_fn)  # grad of the loss -mean[r A] (g_shapo with SHAPO)
        weights, clip_rate = exclusion_weights(self.unsafe_log_prob(batch), batch.old_log_prob, cfg.ratio_clip)
        with torch.enable_grad():
            phi = context.reduce(flat_grad(exclusion_objective(policy, batch.obs, batch.actions, weights), params))
            fvp = fisher_vector_product(kl_fn, params, tr.damping, context.reduce)
        theta_k = get_flat_params(params)

        def evaluate() -> tuple[Tensor, ...]:
            margin = phi.dot(get_flat_params(params) - theta_k)
            return context.reduce(closure().detach()), context.reduce(kl_fn().detach()), margin

        geometry, lam, result = exclusion_step(
            params, -gradient.grad, phi, fvp, evaluate, max_kl=tr.max_kl, margin=cfg.exclusion_margin,
            weight=cfg.exclusion_weight, cg_iters=tr.cg_iters, ratio=tr.backtrack_ratio, max_iters=tr.backtrack_iters,
            fallback=cfg.fallback)
        loss, kl, margin = result.values if result.accepted else (gradient.loss, 0.0, 0.0)
        return {"actor_loss": loss, "kl": kl, "trust_region_accepted": float(result.accepted),
                "backtracks": float(result.steps_taken), "exclusion_margin": margin,
                "fallback": float(result.fallback), "ratio_clip_rate": clip_rate, "phi_norm": float(phi.norm()),
                "exclusion_multiplier": lam, "g_natural_norm": math.sqrt(max(geometry.a, 0.0)),
                "phi_natural_norm": math.sqrt(max(geometry.c, 0.0)), "g_phi_cosine": geometry.cosine,
                **perturbation_metrics([gradient.perturbation])}

    @property
    def multiplier(self) -> float:
        return self.penalty.multiplier
