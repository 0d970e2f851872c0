"""Play evaluation episodes with a trained policy, optionally under a random-action attack.

Random-action attack (robustness figures of the SHAPO paper): at every step, with probability
alpha, the policy's action is replaced by one drawn uniformly from the action box.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import ExplorationType, set_exploration_type

from shapo_rl import keys
from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.envs import make_env


class RandomActionAttack(TensorDictModuleBase):
    """With probability ``alpha`` per env and step, overwrite ``"action"`` with U(low, high)."""

    def __init__(self, alpha: float, low: torch.Tensor, high: torch.Tensor, generator: torch.Generator):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"attack rate must lie in [0, 1], got {alpha}")
        self.alpha, self.low, self.high, self.generator = alpha, low, high, generator
        self.in_keys, self.out_keys = [keys.ACTION], [keys.ACTION]

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        action = td[keys.ACTION]
        hit = torch.rand(action.shape[:-1] + (1,), generator=self.generator) < self.alpha
        noise = self.low + (self.high - self.low) * torch.rand(action.shape, generator=self.generator)
        td[keys.ACTION] = torch.where(hit, noise.to(action.dtype), action)
        return td


@dataclass(frozen=True)
class EvaluationResult:
    returns: torch.Tensor
    costs: torch.Tensor
    lengths: torch.Tensor

    def summary(self) -> dict[str, float]:
        def std(x: torch.Tensor) -> float:
            return float(x.std()) if x.numel() > 1 else 0.0

        return {"episodes": self.returns.numel(), "return_mean": float(self.returns.mean()),
                "return_std": std(self.returns), "cost_mean": float(self.costs.mean()), "cost_std": std(self.costs),
                "length_mean": float(self.lengths.mean())}


@torch.no_grad()
def run_episodes(module: SafePolicyOptimization, *, episodes: int, seed: int = 10_000, num_envs: int = 8,
                 deterministic: bool = True, attack_rate: float = 0.0) -> EvaluationResult:
    """Play ``episodes`` full episodes with the module's policy and its frozen obs statistics."""
    if episodes <= 0:
        raise ValueError(f"number of episodes must be > 0, got {episodes}")
    config = module.config
    normalizer = module.obs_normalizer
    if normalizer is not None:
        normalizer.frozen = True
    num_envs = min(num_envs, episodes)
    env = make_env(config.env, num_envs=num_envs, seed=seed, normalize_obs=config.normalize_obs,
                   obs_normalizer=normalizer)
    policy = module.make_collection_policy()
    attack = None
    if attack_rate > 0:
        generator = torch.Generator().manual_seed(seed)
        space = env.action_spec.space
        attack = RandomActionAttack(attack_rate, space.low, space.high, generator)
    mode = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    returns, costs, lengths = [], [], []
    try:
        td = env.reset()
        with set_exploration_type(mode):
            while len(returns) < episodes:
                td = policy(td)
                if attack is not None:
                    td = attack(td)
                td, next_td = env.step_and_maybe_reset(td)
                done = td["next", keys.DONE].squeeze(-1)
                if done.any():
                    nxt = td["next"]
                    returns += nxt[keys.EPISODE_RETURN].squeeze(-1)[done].tolist()
                    costs += nxt[keys.EPISODE_COST].squeeze(-1)[done].tolist()
                    lengths += nxt[keys.EPISODE_LENGTH].squeeze(-1)[done].tolist()
                td = next_td
    finally:
        env.close()
    as_tensor = lambda xs: torch.tensor(xs[:episodes], dtype=torch.float64)  # noqa: E731
    return EvaluationResult(as_tensor(returns), as_tensor(costs), as_tensor(lengths))
