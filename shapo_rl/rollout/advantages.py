"""Reward and cost advantages: TorchRL's GAE, once per critic.

GAE (Schulman et al. 2016): delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t),
A_t = sum_l (gamma lambda)^l delta_{t+l}, cut at episode ends (done). A time-limit truncation is
done but not terminated, so its last step still bootstraps from V(s_{t+1}); a termination does not.
The same holds for cost with the cost critic and cost discount.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tensordict import TensorDictBase
from torch import Tensor
from tensordict.nn import TensorDictModuleBase
from torchrl.objectives.value import GAE

from shapo_rl import keys


def standardize(x: Tensor, eps: float = 1e-8, *, scale: bool = True,
                total: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """z-score over the whole batch, (x - mean) / (std + eps) with the unbiased std; only
    centred when ``scale`` is False. With ``total`` (the sum over processes) the mean and std are
    those of every process's batch together, from the pooled sums of x, x^2 and the counts."""
    if total is None:
        return (x - x.mean()) / (x.std() + eps) if scale else x - x.mean()
    x64 = x.double()
    n, s1, s2 = total(torch.stack([torch.tensor(float(x.numel()), dtype=torch.float64), x64.sum(), x64.square().sum()]))
    mean = s1 / n
    if not scale:
        return (x64 - mean).to(x.dtype)
    std = ((s2 - n * mean**2) / (n - 1)).clamp_min(0).sqrt()
    return ((x64 - mean) / (std + eps)).to(x.dtype)


class AdvantageEstimator:
    """Writes ``advantage``/``value_target`` and ``cost_advantage``/``cost_value_target`` in place.

    ``critics`` reads ``observation`` and writes both ``keys.VALUE`` and ``keys.COST_VALUE``; it
    is evaluated once on the states and once on the next states, then each GAE reads its values.
    """

    def __init__(self, critics: TensorDictModuleBase, *, gamma: float, cost_gamma: float, lmbda: float):
        self.critics = critics
        self.reward_gae = GAE(gamma=gamma, lmbda=lmbda, value_network=None, average_gae=False)
        self.reward_gae.set_keys(value=keys.VALUE, advantage=keys.ADVANTAGE, value_target=keys.VALUE_TARGET)
        self.cost_gae = GAE(gamma=cost_gamma, lmbda=lmbda, value_network=None, average_gae=False)
        self.cost_gae.set_keys(reward=keys.COST, value=keys.COST_VALUE, advantage=keys.COST_ADVANTAGE,
                               value_target=keys.COST_VALUE_TARGET)

    @torch.no_grad()
    def __call__(self, batch: TensorDictBase) -> TensorDictBase:
        self.critics(batch)
        self.critics(batch["next"])
        self.reward_gae(batch)
        self.cost_gae(batch)
        return batch
