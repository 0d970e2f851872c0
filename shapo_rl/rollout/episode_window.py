"""The returns and costs of the last finished episodes, across epochs.

The reference library logs its episodic return and cost, and computes the Jc its multipliers
follow, over a window of the last 50 episodes rather than over the epoch's; this window gives
both, like for like. It lives in buffers, so a resumed run continues it exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EpisodeWindow(nn.Module):
    """The last ``size`` episodes' returns and costs, oldest first."""

    returns: Tensor
    costs: Tensor
    count: Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"window size must be >= 1, got {size}")
        self.size = size
        self.register_buffer("returns", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("costs", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def add(self, returns: Tensor, costs: Tensor) -> None:
        """Append the episodes that just finished (in order)."""
        for buffer, new in ((self.returns, returns), (self.costs, costs)):
            buffer.copy_(torch.cat([buffer, new.reshape(-1).to(buffer.dtype)])[-self.size:])
        self.count.fill_(min(int(self.count) + returns.numel(), self.size))

    def mean(self, last: int) -> tuple[float, float]:
        """Mean return and cost of the last ``min(last, seen)`` episodes (nan before any)."""
        k = min(last, int(self.count))
        if k == 0:
            return float("nan"), float("nan")
        return float(self.returns[-k:].mean()), float(self.costs[-k:].mean())
