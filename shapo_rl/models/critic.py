"""Value critics V_r(s) and V_c(s): one :class:`~shapo_rl.models.networks.StackedMLP` of two
members evaluated in a single batched pass, as a TensorDict module."""

from __future__ import annotations

from collections.abc import Sequence

from tensordict.nn import TensorDictModule
from torch import Tensor, nn

from shapo_rl import keys
from shapo_rl.models.networks import StackedMLP


class _Columns(nn.Module):
    """Splits the ``[..., members]`` output of a :class:`StackedMLP` into ``[..., 1]`` columns."""

    def __init__(self, net: StackedMLP):
        super().__init__()
        self.net = net

    def forward(self, observation: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.net(observation).split(1, dim=-1))


def make_critics(obs_dim: int, hidden_sizes: Sequence[int], init: str = "orthogonal") -> TensorDictModule:
    """Reward and cost critics (members 0 and 1) writing ``keys.VALUE`` and ``keys.COST_VALUE``;
    ``init``: ``"orthogonal"`` or ``"default"`` (PyTorch's layer init)."""
    if init not in ("orthogonal", "default"):
        raise ValueError(f"critic init must be orthogonal or default, got {init!r}")
    return TensorDictModule(_Columns(StackedMLP(obs_dim, hidden_sizes, members=2, orthogonal=init == "orthogonal")),
                            in_keys=[keys.OBSERVATION], out_keys=[keys.VALUE, keys.COST_VALUE])
