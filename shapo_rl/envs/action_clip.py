"""Clip the policy's action to the action spec's bounds on its way into the simulator."""

from __future__ import annotations

import torch
from torchrl.envs import Transform

from shapo_rl import keys


class ClipAction(Transform):
    """Clamp ``"action"`` to ``[low, high]`` of the parent's bounded action spec (inverse only).

    The policy samples an unbounded Gaussian; only the copy handed to the simulator is
    clipped, so the rollout keeps the sampled action and its log-probability stays exact.
    TorchRL's ``ClipTransform`` takes scalar bounds only; these are read from the spec.
    """

    def __init__(self, key: str = keys.ACTION) -> None:
        super().__init__(in_keys_inv=[key], out_keys_inv=[key])
        self._bounds: tuple[torch.Tensor, torch.Tensor] | None = None

    def _inv_apply_transform(self, action: torch.Tensor) -> torch.Tensor:
        if self._bounds is None:
            space = self.parent.full_action_spec[self.in_keys_inv[0]].space
            self._bounds = (space.low.to(action.dtype), space.high.to(action.dtype))
        low, high = self._bounds
        return torch.maximum(torch.minimum(action, high), low)
