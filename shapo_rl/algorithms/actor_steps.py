"""Shared actor steps: the natural-gradient trust-region step (TRPO family) and first-order
minibatch epochs on any per-minibatch loss (PPO's clipped surrogate, FOCOPS, CUP's projection),
each taking its gradients through the SHAPO step of the update context."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from shapo_rl.algorithms.losses import clipped_surrogate_loss, mean_kl, surrogate_loss
from shapo_rl.algorithms.protocol import UpdateBatch, UpdateContext
from shapo_rl.config import ClipConfig, MinibatchConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import PerturbationInfo, set_flat_grads


def surrogate(policy: GaussianPolicy, batch: UpdateBatch, advantage: Tensor) -> Callable[[], Tensor]:
    """Closure: -mean[r_t(theta) A_t] at the current parameters, behaviour log-probs fixed."""
    return partial(surrogate_loss, policy, batch.obs, batch.actions, batch.old_log_prob, advantage)


def kl_to_behaviour(context: UpdateContext, batch: UpdateBatch) -> Callable[[], Tensor]:
    """kl_fn: mean KL(pi_old || pi_theta) over the batch, differentiable in theta."""
    return partial(mean_kl, context.policy, batch.obs, batch.old_loc, batch.old_scale,
                   reduction=context.kl_reduction)


def perturbation_metrics(infos: list[PerturbationInfo | None], prefix: str = "shapo") -> dict[str, float]:
    """Means of the SHAPO diagnostics over the perturbations of an update (none: no columns)."""
    infos = [i for i in infos if i is not None]
    if not infos:
        return {}
    mean = lambda name: float(sum(getattr(i, name) for i in infos) / len(infos))  # noqa: E731
    return {f"{prefix}_norm": mean("norm"), f"{prefix}_kl": mean("kl"), f"{prefix}_loss_drop": mean("loss_drop"),
            f"{prefix}_cosine": mean("cosine")}


def trust_region_step(context: UpdateContext, batch: UpdateBatch, advantage: Tensor) -> dict[str, float]:
    """One TRPO step on the surrogate of ``advantage``: g (or g_shapo) from the context's gradient
    step, then the natural-gradient step and line search at theta (the actor's
    ``TrustRegionOptimizer``)."""
    closure = surrogate(context.policy, batch, advantage)
    kl_fn = kl_to_behaviour(context, batch)
    gradient = context.gradient.step(closure, kl_fn)
    info = context.optimizers[0].step(closure=closure, kl_fn=kl_fn, grad=gradient.grad)
    return {"actor_loss": info.loss_after, "kl": info.kl, "trust_region_accepted": float(info.accepted),
            "backtracks": float(info.backtracks), **perturbation_metrics([gradient.perturbation])}


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
                gradient = context.gradient.step(closure, partial(mean_kl, policy, obs, *anchor,
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
