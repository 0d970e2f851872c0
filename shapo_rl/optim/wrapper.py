"""A torch optimiser that steps another one (the base) with gradients it computes itself."""

from __future__ import annotations

from typing import Any

import torch

from shapo_rl.optim.parameters import optimizer_params


class OptimizerWrapper(torch.optim.Optimizer):
    """Shares the base optimiser's ``param_groups`` and ``state`` and delegates (de)serialisation
    to it, so a wrapper can be returned from ``configure_optimizers`` and checkpointed like the
    base. Subclasses define ``step``."""

    def __init__(self, base: torch.optim.Optimizer) -> None:
        super().__init__(optimizer_params(base), {})
        self.base = base
        self.param_groups = base.param_groups
        self.state = base.state
        self.defaults = base.defaults

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict)
        self.param_groups = self.base.param_groups
        self.state = self.base.state
