"""Value critics V(s) for reward and cost, as TensorDict modules read by TorchRL's GAE."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchrl.modules import ValueOperator

from shapo_rl import keys


def mlp(in_dim: int, out_dim: int, hidden_sizes: Sequence[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """A plain multilayer perceptron ``in_dim -> hidden... -> out_dim`` with orthogonal init."""
    layers: list[nn.Module] = []
    sizes = [in_dim, *hidden_sizes]
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.orthogonal_(linear.weight, gain=2**0.5)
        nn.init.zeros_(linear.bias)
        layers += [linear, activation()]
    head = nn.Linear(sizes[-1], out_dim)
    nn.init.orthogonal_(head.weight, gain=1.0)
    nn.init.zeros_(head.bias)
    layers.append(head)
    return nn.Sequential(*layers)


def make_critic(obs_dim: int, hidden_sizes: Sequence[int], *, out_key: str) -> ValueOperator:
    """A state-value critic writing ``out_key`` (``keys.VALUE`` or ``keys.COST_VALUE``)."""
    return ValueOperator(mlp(obs_dim, 1, hidden_sizes), in_keys=[keys.OBSERVATION], out_keys=[out_key])
