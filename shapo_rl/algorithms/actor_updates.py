"""Actor updates: the trust-region step (TRPO family) and the clipped step (PPO family).

Both run through ``optimizer.step(closure, kl_fn=...)`` where ``closure()`` returns the surrogate
loss at the current parameters and ``kl_fn()`` the mean KL to the behaviour policy. When SHAPO is
on, the optimizer is a ``SharpnessAwareOptimizer`` around the base one: it evaluates the gradient
at the pessimistic neighbour theta + eps, restores theta, and lets the base step run at theta.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

from shapo_rl.algorithms.losses import clipped_surrogate_loss, mean_kl, surrogate_loss
from shapo_rl.config import TrainConfig
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import PerturbationInfo, TrustRegionOptimizer
from shapo_rl.optim.fisher import Reduce, identity_reduce


@dataclass
class PolicyBatch:
    """The flat on-policy batch the actor learns from (behaviour log-probs, loc and scale kept)."""

    obs: Tensor
    actions: Tensor
    old_log_prob: Tensor
    old_loc: Tensor
    old_scale: Tensor
    advantage: Tensor

    def __len__(self) -> int:
        return self.obs.shape[0]

    def subset(self, index: Tensor) -> "PolicyBatch":
        return PolicyBatch(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def _surrogate(policy: GaussianPolicy, batch: PolicyBatch, loss_fn: Callable[..., Tensor]) -> Callable[[], Tensor]:
    """The closure: the surrogate loss at the current parameters, behaviour log-probs fixed."""
    return partial(loss_fn, policy, batch.obs, batch.actions, batch.old_log_prob, batch.advantage)


def _kl_to(policy: GaussianPolicy, obs: Tensor, loc: Tensor, scale: Tensor) -> Callable[[], Tensor]:
    """kl_fn: mean KL(N(loc, scale) || pi_theta) on ``obs``, differentiable in theta."""
    return partial(mean_kl, policy, obs, loc, scale)


def _perturbation_metrics(infos: list[PerturbationInfo]) -> dict[str, float]:
    if not infos:
        return {}
    mean = lambda name: float(sum(getattr(i, name) for i in infos) / len(infos))  # noqa: E731
    return {"shapo_norm": mean("norm"), "shapo_kl": mean("kl"), "shapo_loss_drop": mean("loss_drop"),
            "shapo_cosine": mean("cosine")}


def _step(optimizer: Any, closure, kl_fn):
    """Run one optimizer step; split a SHAPO wrapper's (base_info, perturbation_info) result."""
    result = optimizer.step(closure=closure, kl_fn=kl_fn)
    if isinstance(result, tuple):
        return result
    return result, None


def _backward_closure(optimizer: Any, closure: Callable[[], Tensor], backward: Callable[[Tensor], None]) -> Tensor:
    optimizer.zero_grad()
    loss = closure()
    backward(loss)
    return loss.detach()


class TrustRegionUpdate:
    """One natural-gradient step with backtracking on the whole batch (TRPO, Schulman et al. 2015)."""

    def make_optimizer(self, params, config: TrainConfig, reduce: Reduce | None):
        tr = config.trust_region
        return TrustRegionOptimizer(params, max_kl=tr.max_kl, cg_iters=tr.cg_iters, damping=tr.damping,
                                    backtrack_ratio=tr.backtrack_ratio, backtrack_iters=tr.backtrack_iters,
                                    reduce=reduce)

    def __call__(self, policy: GaussianPolicy, optimizer: Any, batch: PolicyBatch, config: TrainConfig,
                 backward: Callable[[Tensor], None]) -> dict[str, float]:
        closure = _surrogate(policy, batch, surrogate_loss)
        kl_fn = _kl_to(policy, batch.obs, batch.old_loc, batch.old_scale)
        info, perturbation = _step(optimizer, closure, kl_fn)
        metrics = {"actor_loss": float(info.loss_after), "kl": float(info.kl),
                   "trust_region_accepted": float(info.accepted), "backtracks": float(info.backtracks)}
        metrics.update(_perturbation_metrics([perturbation] if perturbation else []))
        return metrics


class ClippedUpdate:
    """PPO-Clip epochs of Adam minibatch steps, stopped early once the batch KL exceeds its target.

    With SHAPO (Algorithm 4 of the paper) each minibatch step perturbs the actor on that minibatch
    (Fisher: CG on the minibatch's Fisher-vector products; or Euclidean) before its Adam step. The
    vanilla step clips the gradient norm at ``max_grad_norm``; the SHAPO step hands g_shapo to Adam
    unclipped (with z-scored advantages the clip of 40 does not bind in practice).
    """

    def __init__(self) -> None:
        self.reduce: Reduce = identity_reduce

    def make_optimizer(self, params, config: TrainConfig, reduce: Reduce | None):
        self.reduce = reduce or identity_reduce  # the early stop must be the same decision everywhere
        return torch.optim.Adam(params, lr=config.clip.lr)

    def __call__(self, policy: GaussianPolicy, optimizer: Any, batch: PolicyBatch, config: TrainConfig,
                 backward: Callable[[Tensor], None]) -> dict[str, float]:
        """``backward(loss)`` fills ``.grad`` (Lightning's ``manual_backward`` plus gradient clipping)."""
        cfg = config.clip
        loss_fn = partial(clipped_surrogate_loss, clip=cfg.clip)
        perturbations: list[PerturbationInfo] = []
        losses: list[float] = []
        iterations = 0
        for _ in range(cfg.update_iters):
            iterations += 1
            for index in torch.randperm(len(batch)).split(cfg.minibatch_size):
                minibatch = batch.subset(index)
                closure = _surrogate(policy, minibatch, loss_fn)
                if config.shapo.geometry != "none":
                    # The perturbation's KL ball is centred on the current parameters, which in PPO
                    # have already moved away from pi_old: anchor it at this step's policy.
                    with torch.no_grad():
                        anchor = policy(minibatch.obs)
                    _, perturbation = _step(optimizer, closure, _kl_to(policy, minibatch.obs, *anchor))
                    perturbations.append(perturbation)
                    loss = perturbation.loss
                else:
                    loss = optimizer.step(closure=lambda: _backward_closure(optimizer, closure, backward))
                losses.append(float(loss))
            with torch.no_grad():
                kl = float(self.reduce(mean_kl(policy, batch.obs, batch.old_loc, batch.old_scale)))
            if kl > cfg.target_kl:
                break
        metrics = {"actor_loss": sum(losses) / len(losses), "kl": kl, "actor_iterations": float(iterations)}
        metrics.update(_perturbation_metrics(perturbations))
        return metrics


ACTOR_UPDATES = {"trust-region": TrustRegionUpdate, "clipped": ClippedUpdate}
