"""Saute's safety state (Sootla et al. 2022, "Saute RL: Almost Surely Safe RL Using State
Augmentation"): the fraction of the safety budget left, appended to the observation.

With budget B, the safety state starts at z_0 = 1 and after a step of cost c_t becomes
z_{t+1} = (z_t - c_t / B) / gamma_s; once z <= 0 the step's reward is replaced by
``unsafe_reward``. Unrolled, z_T > 0 iff sum_{t<T} gamma_s^t c_t < B, so the Saute MDP rewards
only episodes whose discounted cost stays within the budget.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import TensorSpec, Unbounded
from torchrl.envs import Transform

from shapo_rl import keys


def saute_budget(cost_limit: float, gamma: float, episode_steps: int) -> float:
    """B = d (1 - gamma_s^T) / ((1 - gamma_s) T) for gamma_s < 1, else d.

    The scaling of the authors' code and of the reference library (both divide by T, so B -> d
    as gamma_s -> 1): the discounted cost of an episode that spends d evenly over its T steps.
    """
    if not cost_limit > 0:
        raise ValueError(f"the Saute budget needs a cost limit > 0, got {cost_limit}")
    if not 0 < gamma <= 1:
        raise ValueError(f"saute gamma must lie in (0, 1], got {gamma}")
    if gamma == 1:
        return float(cost_limit)
    return cost_limit * (1 - gamma**episode_steps) / ((1 - gamma) * episode_steps)


class SauteState(Transform):
    """Append z to ``"observation"`` and keep it at ``"safety_state"`` ([*batch, 1]); replace the
    reward by ``unsafe_reward`` on the steps that end with z <= 0 (z of the step's own cost, as
    the reference). Resets set z = 1.

    Placed after the observation normaliser (z enters the policy unnormalised, as in the
    reference) and after the episode counters (logged returns are the task's own).
    """

    def __init__(self, cost_limit: float, episode_steps: int, *, gamma: float = 0.999,
                 unsafe_reward: float = -1.0) -> None:
        super().__init__(in_keys=[keys.OBSERVATION, keys.REWARD, keys.COST],
                         out_keys=[keys.OBSERVATION, keys.REWARD, keys.SAFETY_STATE])
        self.budget = saute_budget(cost_limit, gamma, episode_steps)
        self.gamma = gamma
        self.unsafe_reward = unsafe_reward

    def _reset(self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase) -> TensorDictBase:
        # Every row: on a partial reset the callers (TorchRL's reset, the rollout collector) keep
        # only the reset rows of the result.
        obs = tensordict_reset.get(keys.OBSERVATION)
        z = torch.ones((*tensordict_reset.batch_size, 1), dtype=obs.dtype, device=obs.device)
        tensordict_reset.set(keys.SAFETY_STATE, z)
        tensordict_reset.set(keys.OBSERVATION, torch.cat([obs, z], -1))
        return tensordict_reset

    def _step(self, tensordict: TensorDictBase, next_tensordict: TensorDictBase) -> TensorDictBase:
        z = (tensordict.get(keys.SAFETY_STATE) - next_tensordict.get(keys.COST) / self.budget) / self.gamma
        reward = next_tensordict.get(keys.REWARD)
        next_tensordict.set(keys.REWARD, torch.where(z > 0, reward, torch.full_like(reward, self.unsafe_reward)))
        next_tensordict.set(keys.SAFETY_STATE, z)
        next_tensordict.set(keys.OBSERVATION, torch.cat([next_tensordict.get(keys.OBSERVATION), z], -1))
        return next_tensordict

    def transform_observation_spec(self, observation_spec: TensorSpec) -> TensorSpec:
        obs = observation_spec[keys.OBSERVATION]
        observation_spec[keys.OBSERVATION] = Unbounded(shape=(*obs.shape[:-1], obs.shape[-1] + 1), dtype=obs.dtype,
                                                       device=obs.device)
        observation_spec[keys.SAFETY_STATE] = Unbounded(shape=(*observation_spec.shape, 1), dtype=obs.dtype,
                                                        device=obs.device)
        return observation_spec

    def extra_repr(self) -> str:
        return f"budget={self.budget:.6g}, gamma={self.gamma}, unsafe_reward={self.unsafe_reward}"
