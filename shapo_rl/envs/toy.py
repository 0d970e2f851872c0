"""ToyCMDP: a tiny constrained MDP with a closed-form optimum, as a native batched TorchRL env.

Each episode lasts ``H`` steps and ends by truncation (a time limit, never termination). The
observation is ``[t / H, u]`` with ``u ~ Uniform(-1, 1)`` an irrelevant distractor redrawn every
step. The action ``a`` is one number in ``[-1, 1]``; reward ``r = 1 + a`` and cost ``c = (a + 1)^2``
(in ``[0, 4]``) do not depend on the state, so a constant action is optimal. The reward is linear
so that only the cost penalises action noise: a concave reward would also drive the policy's
standard deviation to zero early, and with it the size of every trust-region step in the mean.
"""

from __future__ import annotations

import math

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Composite, Unbounded
from torchrl.envs import EnvBase

from shapo_rl import keys

HORIZON = 20


def toy_cmdp_optimum(cost_limit: float, horizon: int = HORIZON) -> tuple[float, float, float]:
    """Return ``(return*, cost*, lambda*)`` of the constrained optimum of ToyCMDP.

    Maximise ``H (1 + a)`` subject to ``H (a + 1)^2 <= d``. The return grows with ``a`` on
    ``[-1, 1]`` and so does the cost, so the constraint binds while ``d < 4H``:
    ``a* = sqrt(d / H) - 1`` clipped to ``[-1, 1]``. Stationarity of the Lagrangian,
    ``1 = 2 lambda (a + 1)``, gives ``lambda* = 1 / (2 (1 + a*))``, which is 0 once the constraint
    no longer binds (``d >= 4H``). At ``d = 20, H = 20``: ``a* = 0``, return 20, cost 20,
    ``lambda* = 0.5``; unconstrained, ``a = 1`` gives return 40 at cost 80.
    """
    if cost_limit < 0:
        raise ValueError(f"cost_limit must be >= 0, got {cost_limit}.")
    a = min(max(math.sqrt(cost_limit / horizon) - 1.0, -1.0), 1.0)
    if cost_limit >= 4 * horizon:
        lam = 0.0
    else:
        lam = 1.0 / (2.0 * (1.0 + a)) if a > -1.0 else math.inf
    return horizon * (1.0 + a), horizon * (a + 1.0) ** 2, lam


class ToyCMDP(EnvBase):
    """The ToyCMDP-v0 task, ``num_envs`` copies stepped together in pure torch."""

    def __init__(
        self, num_envs: int = 1, *, horizon: int = HORIZON, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__(batch_size=torch.Size([num_envs]), device=device)
        self.horizon = horizon
        shape = (num_envs, 1)
        self.observation_spec = Composite(
            {
                keys.OBSERVATION: Unbounded((num_envs, 2), dtype=torch.float32),
                keys.COST: Unbounded(shape, dtype=torch.float32),
            },
            shape=(num_envs,),
        )
        self.action_spec = Bounded(-1.0, 1.0, shape, dtype=torch.float32)
        self.reward_spec = Unbounded(shape, dtype=torch.float32)
        self.full_done_spec = Composite(
            {
                key: Bounded(0, 1, shape, dtype=torch.bool)
                for key in (keys.DONE, keys.TERMINATED, keys.TRUNCATED)
            },
            shape=(num_envs,),
        )
        self.rng = torch.Generator()
        self._t = torch.zeros(num_envs, dtype=torch.long)

    def _observation(self) -> torch.Tensor:
        u = torch.rand(self._t.shape, generator=self.rng) * 2.0 - 1.0
        return torch.stack([self._t.float() / self.horizon, u], -1).to(self.device)

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:  # type: ignore[no-untyped-def]
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if mask is None:
            self._t.zero_()
        else:
            self._t.masked_fill_(mask.reshape(self._t.shape).cpu(), 0)
        zeros = torch.zeros((*self.batch_size, 1), device=self.device)
        false = zeros.bool()
        return TensorDict(
            {
                keys.OBSERVATION: self._observation(),
                keys.COST: zeros,
                keys.DONE: false,
                keys.TERMINATED: false.clone(),
                keys.TRUNCATED: false.clone(),
            },
            batch_size=self.batch_size,
            device=self.device,
        )

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        a = tensordict.get(keys.ACTION).clamp(-1.0, 1.0)
        self._t += 1
        truncated = (self._t >= self.horizon).unsqueeze(-1).to(self.device)
        return TensorDict(
            {
                keys.OBSERVATION: self._observation(),
                keys.REWARD: 1.0 + a,
                keys.COST: (a + 1.0) ** 2,
                keys.DONE: truncated,
                keys.TERMINATED: torch.zeros_like(truncated),
                keys.TRUNCATED: truncated.clone(),
            },
            batch_size=self.batch_size,
            device=self.device,
        )

    def _set_seed(self, seed: int | None) -> None:
        self.rng.manual_seed(0 if seed is None else seed)
