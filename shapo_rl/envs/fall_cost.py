"""Falls as cost for MuJoCo locomotion tasks that have no cost signal of their own."""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from torchrl.data import TensorSpec, Unbounded
from torchrl.envs import Transform

from shapo_rl import keys


class FallCost(Transform):
    """Write ``cost = 1.0`` on a step whose ``terminated`` is True (an unhealthy fall), else 0.

    Gymnasium's MuJoCo tasks terminate only when unhealthy; a time-limit end sets
    ``truncated`` alone, so it costs nothing. Cost is float32 ``[*batch, 1]``.
    """

    def __init__(self) -> None:
        super().__init__(in_keys=[keys.TERMINATED], out_keys=[keys.COST])

    def _call(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        terminated = next_tensordict.get(keys.TERMINATED)
        next_tensordict.set(keys.COST, terminated.to(torch.float32))
        return next_tensordict

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        shape = (*tensordict_reset.batch_size, 1)
        tensordict_reset.set(keys.COST, torch.zeros(shape, device=tensordict_reset.device))
        return tensordict_reset

    def transform_observation_spec(self, observation_spec: TensorSpec) -> TensorSpec:
        observation_spec[keys.COST] = Unbounded(
            shape=(*observation_spec.shape, 1), dtype=torch.float32, device=observation_spec.device
        )
        return observation_spec
