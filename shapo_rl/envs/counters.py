"""Per-env episode return, cost and length counters.

TorchRL's ``RewardSum`` only sums keys of the reward spec, and cost is not one, so one
transform tracks all three.
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import TensorSpec, Unbounded
from torchrl.envs import Transform

from shapo_rl import keys


class EpisodeCounters(Transform):
    """Write running episode totals to ``("next", episode_return | episode_cost | episode_length)``.

    Each counter includes the current step and restarts at zero on reset (only for the reset
    rows on a partial reset), so a consumer reads a finished episode's totals where
    ``("next", "done")`` is True. All three are float32 ``[*batch, 1]``.
    """

    def __init__(self, reward_key: str = keys.REWARD, cost_key: str = keys.COST) -> None:
        self._sums = {keys.EPISODE_RETURN: reward_key, keys.EPISODE_COST: cost_key}
        out = [keys.EPISODE_RETURN, keys.EPISODE_COST, keys.EPISODE_LENGTH]
        super().__init__(in_keys=[reward_key, cost_key], out_keys=out)

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        shape = (*tensordict_reset.batch_size, 1)
        mask = None if tensordict is None else tensordict.get("_reset", None)
        for key in self.out_keys:
            previous = None if tensordict is None else tensordict.get(key, None)
            if previous is None or mask is None:
                value = torch.zeros(shape, dtype=torch.float32, device=tensordict_reset.device)
            else:
                value = previous.masked_fill(mask.reshape(previous.shape[:-1] + (1,)), 0.0)
            tensordict_reset.set(key, value)
        return tensordict_reset

    def _step(
        self, tensordict: TensorDictBase, next_tensordict: TensorDictBase
    ) -> TensorDictBase:
        for out_key, in_key in self._sums.items():
            increment = next_tensordict.get(in_key).to(torch.float32)
            next_tensordict.set(out_key, tensordict.get(out_key, 0.0) + increment)
        length = tensordict.get(keys.EPISODE_LENGTH, 0.0)
        next_tensordict.set(keys.EPISODE_LENGTH, length + torch.ones_like(increment))
        return next_tensordict

    def transform_observation_spec(self, observation_spec: TensorSpec) -> TensorSpec:
        shape = (*observation_spec.shape, 1)
        for key in self.out_keys:
            observation_spec[key] = Unbounded(
                shape=shape, dtype=torch.float32, device=observation_spec.device
            )
        return observation_spec
