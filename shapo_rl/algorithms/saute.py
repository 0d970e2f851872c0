"""Saute RL (Sootla et al. 2022): ``trpo-saute`` and ``ppo-saute``, TRPO and PPO-Clip with the
cost ignored on the Saute MDP.

The constraint moves into the MDP (:class:`~shapo_rl.envs.saute.SauteState`): the observation
gains the remaining safety budget z (z_0 = 1, z <- (z - c / B) / gamma_s, B the cost limit
scaled by (1 - gamma_s^T) / ((1 - gamma_s) T)), and every step that ends with z <= 0 earns
``unsafe_reward``. The actor then ascends the reward advantage of that MDP alone, by the TRPO
or PPO family's own step (SHAPO applies as on the base algorithm). A cost limit of 0 leaves no
budget to track and is refused.

Defaults: saute_gamma 0.999 and unsafe_reward -1, the reference library's; for its benchmark it
tunes 0.9999 and -0.2 on Safety{Point,Car}{Goal,Circle}{1,2} (not Button or Push) (``--set
saute_gamma=0.9999 --set unsafe_reward=-0.2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torchrl.envs import Transform

from shapo_rl.algorithms.penalized import PenalizedAlgorithm
from shapo_rl.algorithms.ppo import PenalizedPPO
from shapo_rl.algorithms.trpo import PenalizedTRPO
from shapo_rl.config import ClipConfig, ConfigError, TrustRegionConfig, require
from shapo_rl.constraints import ConstraintHandler, Unconstrained
from shapo_rl.envs.saute import SauteState


@dataclass(frozen=True)
class SauteConfig:
    """The safety state's discount gamma_s and the reward of a step once the budget is spent."""

    saute_gamma: float = 0.999
    unsafe_reward: float = -1.0

    def __post_init__(self):
        require(0 < self.saute_gamma <= 1, f"saute_gamma must lie in (0, 1], got {self.saute_gamma}")
        require(math.isfinite(self.unsafe_reward), f"unsafe_reward must be finite, got {self.unsafe_reward}")


@dataclass(frozen=True)
class SauteTRPOConfig(SauteConfig):
    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)


@dataclass(frozen=True)
class SautePPOConfig(SauteConfig):
    clip: ClipConfig = field(default_factory=ClipConfig)


class Saute(PenalizedAlgorithm):
    """What Saute adds to a family: the safety-state transform, and no penalty."""

    @classmethod
    def env_transforms(cls, config: SauteConfig, *, cost_limit: float, episode_steps: int) -> list[Transform]:
        if not cost_limit > 0:
            raise ConfigError(f"Saute needs a cost limit > 0 (its state is the fraction of the budget left), "
                              f"got --cost-limit {cost_limit:g}")
        return [SauteState(cost_limit, episode_steps, gamma=config.saute_gamma, unsafe_reward=config.unsafe_reward)]

    def make_penalty(self, config: SauteConfig, cost_limit: float) -> ConstraintHandler:
        return Unconstrained()


class SauteTRPO(Saute, PenalizedTRPO):
    """TRPO's natural-gradient step on the Saute MDP."""


class SautePPO(Saute, PenalizedPPO):
    """PPO-Clip's minibatch epochs on the Saute MDP."""
