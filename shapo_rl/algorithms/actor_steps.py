"""Shared actor steps: the natural-gradient trust-region step (TRPO family), the step in the
linearised cost constraint (CPO, PCPO) and first-order minibatch epochs on any per-minibatch loss
(PPO's clipped surrogate, FOCOPS, CUP's projection), each taking its gradients through the SHAPO
step of the update context."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from shapo_rl.algorithms.losses import AnchoredKL, clipped_surrogate_loss, mean_kl, surrogate_loss
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.config import ClipConfig, MinibatchConfig, TrustRegionConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import (
    LinearConstraint,
    PerturbationInfo,
    Reduce,
    StepDirection,
    TrustRegionOptimizer,
    constrained_natural_step,
    fisher_vector_product,
    set_flat_grads,
)
from shapo_rl.optim.constrained_step import Method


def surrogate(policy: GaussianPolicy, batch: UpdateBatch, advantage: Tensor) -> Callable[[], Tensor]:
    """Closure: -mean[r_t(theta) A_t] at the current parameters, behaviour log-probs fixed."""
    return partial(surrogate_loss, policy, batch.obs, batch.actions, batch.old_log_prob, advantage)


def kl_to_behaviour(context: UpdateContext, batch: UpdateBatch) -> Callable[[], Tensor]:
    """kl_fn: mean KL(pi_old || pi_theta) over the batch, differentiable in theta."""
    return AnchoredKL(context.policy, batch.obs, batch.old_loc, batch.old_scale, reduction=context.kl_reduction)


def perturbation_metrics(infos: list[PerturbationInfo | None], prefix: str = "shapo") -> dict[str, float]:
    """Means of the SHAPO diagnostics over the perturbations of an update (none: no columns);
    ``_fallback`` is the fraction of them where no backtrack fitted the KL ball."""
    infos = [i for i in infos if i is not None]
    if not infos:
        return {}
    mean = lambda name: float(sum(getattr(i, name) for i in infos) / len(infos))  # noqa: E731
    return {f"{prefix}_norm": mean("norm"), f"{prefix}_kl": mean("kl"), f"{prefix}_loss_drop": mean("loss_drop"),
            f"{prefix}_cosine": mean("cosine"), f"{prefix}_backtracks": mean("backtracks"),
            f"{prefix}_fallback": mean("fell_back")}


def trust_region_optimizer(policy: GaussianPolicy, config: TrustRegionConfig, reduce: Reduce) -> TrustRegionOptimizer:
    """The actor's TRPO optimiser with the trust-region settings of ``config``."""
    return TrustRegionOptimizer(policy.parameters(), max_kl=config.max_kl, cg_iters=config.cg_iters,
                                damping=config.damping, backtrack_ratio=config.backtrack_ratio,
                                backtrack_iters=config.backtrack_iters, reduce=reduce)


def trust_region_step(context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
    """One TRPO step on the surrogate of ``advantage``: g (or g_shapo) from the context's gradient
    step, then the natural-gradient step and line search at theta (the actor's
    ``TrustRegionOptimizer``)."""
    closure = surrogate(context.policy, batch, advantage)
    kl_fn = kl_to_behaviour(context, batch)
    gradient = context.gradient.step(closure, kl_fn)
    info = context.optimizers[0].step(closure=closure, kl_fn=kl_fn, grad=gradient.grad, loss_before=gradient.loss)
    return {"actor_loss": info.loss_after, "kl": info.kl, "trust_region_accepted": float(info.accepted),
            "backtracks": float(info.backtracks), **perturbation_metrics([gradient.perturbation])}


def linearized_cost_step(context: UpdateContext, batch: UpdateBatch, c: float, config: TrustRegionConfig, *,
                         method: Method, reward_must_improve: Callable[[StepDirection], bool]
                         ) -> tuple[StepDirection, dict[str, float]]:
    """One step of the CPO family in the linearised cost constraint c + b^T s <= 0 (c = Jc - d).

    g is the gradient of the reward surrogate -mean[r_t A_r], b that of the cost surrogate
    mean[r_t A_c] (A_r z-scored, A_c centred), each at its own SHAPO neighbour (towards lower
    reward, towards higher cost); the constrained natural step at theta (``method``: CPO's dual
    or PCPO's projection), backtracked (``config``) until the mean KL is within delta, the cost
    surrogate grows by at most max(-c, 0) and, where ``reward_must_improve(direction)``, the
    reward surrogate does not get worse; if none qualifies, no step.
    """
    adv_r, adv_c = context.standardized(batch)
    policy, params = context.policy, list(context.policy.parameters())
    reward_loss = surrogate(policy, batch, adv_r)  # -mean[r_t A_r]
    cost_loss = surrogate(policy, batch, -adv_c)  # the cost surrogate mean[r_t A_c]
    kl_fn = kl_to_behaviour(context, batch)
    reward = context.gradient.step(reward_loss, kl_fn)
    cost = context.gradient.step(cost_loss, kl_fn)
    with torch.enable_grad():
        fvp = fisher_vector_product(kl_fn, params, config.damping, context.reduce)

    def evaluate():
        return (context.reduce(reward_loss().detach()), context.reduce(kl_fn().detach()),
                context.reduce(cost_loss().detach()))

    def accept(direction: StepDirection, values: tuple[float, ...]) -> bool:
        loss_r, kl, loss_c = values
        return (all(math.isfinite(v) for v in values) and kl <= config.max_kl
                and loss_c - cost.loss <= max(-c, 0.0)
                and (not reward_must_improve(direction) or loss_r <= reward.loss))

    direction, result = constrained_natural_step(
        params, -reward.grad, fvp, config.max_kl, evaluate, accept, constraint=LinearConstraint(cost.grad, c),
        method=method, cg_iters=config.cg_iters, ratio=config.backtrack_ratio, max_iters=config.backtrack_iters)
    loss_r, kl, loss_c = result.values if result.accepted else (reward.loss, 0.0, cost.loss)
    return direction, {"actor_loss": loss_r, "cost_surrogate": loss_c, "kl": kl,
                       "trust_region_accepted": float(result.accepted), "backtracks": float(result.steps_taken),
                       "constraint_value": c, **perturbation_metrics([reward.perturbation]),
                       **perturbation_metrics([cost.perturbation], prefix="shapo_cost")}


MinibatchLoss = Callable[[Tensor], Callable[[], Tensor]]  # minibatch indices -> closure of its loss


def minibatch_epochs(context: UpdateContext, batch: UpdateBatch, minibatch_loss: MinibatchLoss,
                     config: ClipConfig | MinibatchConfig, *, kl_from: tuple[Tensor, Tensor],
                     stage: str | None = None) -> dict[str, float]:
    """Epochs of steps of the actor's (Adam) optimiser on ``minibatch_loss(index)`` per shuffled
    minibatch, stopped once the mean KL(pi_ref || pi_theta) over the batch (``kl_from``: pi_ref's
    loc and scale; summed over action dimensions as the reference library's, averaged over
    processes) exceeds ``config.target_kl``.

    With SHAPO (Algorithm 4 of the paper) each minibatch step takes g_shapo on that minibatch,
    its KL ball anchored at the policy of the step (which has left pi_old after the first
    minibatch), and hands it to Adam unclipped (with z-scored advantages the clip of 40 does not
    bind in practice); the vanilla step clips the gradient norm at ``max_grad_norm``. Metrics:
    ``actor_loss``, ``kl``, ``actor_iterations`` and ``shapo_*``, or for a named ``stage``
    ``{stage}_loss``, ``{stage}_kl``, ``{stage}_iterations`` and ``shapo_{stage}_*``.
    """
    policy, optimizer = context.policy, context.optimizers[0]
    params = list(policy.parameters())
    perturbations: list[PerturbationInfo | None] = []
    losses: list[float] = []
    iterations = 0
    for _ in range(config.update_iters):
        iterations += 1
        for index in torch.randperm(len(batch)).split(config.minibatch_size):
            closure = minibatch_loss(index)
            if context.gradient.perturbs:
                obs = batch.obs[index]
                with torch.no_grad():
                    anchor = policy(obs)
                gradient = context.gradient.step(closure, AnchoredKL(policy, obs, *anchor,
                                                                     reduction=context.kl_reduction))
                set_flat_grads(params, gradient.grad)
                optimizer.step()
                perturbations.append(gradient.perturbation)
                losses.append(gradient.loss)
            else:
                def backward_closure() -> Tensor:
                    optimizer.zero_grad()
                    loss = closure()
                    context.backward(loss, optimizer, config.max_grad_norm)
                    return loss.detach()

                losses.append(float(optimizer.step(closure=backward_closure)))
        with torch.no_grad():
            kl = float(context.reduce(mean_kl(policy, batch.obs, *kl_from)))
        if kl > config.target_kl:
            break
    names = ("actor_loss", "kl", "actor_iterations", "shapo") if stage is None else (
        f"{stage}_loss", f"{stage}_kl", f"{stage}_iterations", f"shapo_{stage}")
    return {names[0]: sum(losses) / len(losses), names[1]: kl, names[2]: float(iterations),
            **perturbation_metrics(perturbations, prefix=names[3])}


def clipped_epochs(context: UpdateContext, batch: UpdateBatch, advantage: Tensor, config: ClipConfig) -> dict[str, float]:
    """PPO-Clip epochs (:func:`minibatch_epochs` on the clipped surrogate of ``advantage``),
    early-stopped on the KL from the behaviour policy."""

    def loss(index: Tensor) -> Callable[[], Tensor]:
        return partial(clipped_surrogate_loss, context.policy, batch.obs[index], batch.actions[index],
                       batch.old_log_prob[index], advantage[index], clip=config.clip)

    return minibatch_epochs(context, batch, loss, config, kl_from=(batch.old_loc, batch.old_scale))
