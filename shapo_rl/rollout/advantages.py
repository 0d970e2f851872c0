"""Reward and cost advantages: TorchRL's GAE, once per critic.

GAE (Schulman et al. 2016): delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t),
A_t = sum_l (gamma lambda)^l delta_{t+l}, cut at episode ends (done). A time-limit truncation is
done but not terminated, so its last step still bootstraps from V(s_{t+1}); a termination does not.
The same holds for cost with the cost critic and cost discount.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torch import Tensor
from tensordict.nn import TensorDictModuleBase
from torchrl.objectives.value import GAE

from shapo_rl import keys


def standardize(x: Tensor, eps: float = 1e-8) -> Tensor:
    """z-score over the whole batch: (x - mean) / (std + eps)."""
    return (x - x.mean()) / (x.std() + eps)


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
