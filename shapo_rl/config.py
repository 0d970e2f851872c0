"""Typed, frozen run configuration, built at the CLI edge and passed down whole.

Defaults follow the reference library's on-policy settings (20,000-step epochs, 64x64 tanh MLPs,
gamma = 0.99, GAE lambda = 0.95, TRPO target KL 0.01 with CG 15 / damping 0.1 / 15 x 0.8 line
search, PPO clip 0.2 with 40 iterations of batch 64, critic lr 1e-3 over 10 iterations of batch 128,
Lagrange init 0.001 and lr 0.035) and the SHAPO authors' (radius 1e-5, critic SAM rho 0.05).
Validation happens at construction with messages a user can act on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Geometry = Literal["none", "fisher", "euclidean"]
Schedule = Literal["constant", "percentile", "decay"]
SamCritics = Literal["both", "reward", "cost"]


class ConfigError(ValueError):
    """A configuration value a user gave is invalid; the message says which and why."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass(frozen=True)
class ModelConfig:
    hidden_sizes: tuple[int, ...] = (64, 64)
    init_log_std: float = -0.5

    def __post_init__(self):
        _require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes),
                 f"hidden sizes must be positive, got {self.hidden_sizes}")


@dataclass(frozen=True)
class TrustRegionConfig:
    """TRPO step (Schulman et al. 2015): delta, CG and backtracking settings."""

    max_kl: float = 0.01
    cg_iters: int = 15
    damping: float = 0.1
    backtrack_ratio: float = 0.8
    backtrack_iters: int = 15

    def __post_init__(self):
        _require(self.max_kl > 0, f"trust-region max KL must be > 0, got {self.max_kl}")
        _require(0 < self.backtrack_ratio < 1, f"backtrack ratio must lie in (0, 1), got {self.backtrack_ratio}")


@dataclass(frozen=True)
class ClipConfig:
    """PPO's clipped surrogate (Schulman et al. 2017), early-stopped at a target KL."""

    clip: float = 0.2
    target_kl: float = 0.02
    update_iters: int = 40
    minibatch_size: int = 64
    lr: float = 3e-4
    max_grad_norm: float = 40.0

    def __post_init__(self):
        _require(self.clip > 0, f"PPO clip must be > 0, got {self.clip}")
        _require(self.minibatch_size > 0, f"PPO minibatch size must be > 0, got {self.minibatch_size}")


@dataclass(frozen=True)
class CriticConfig:
    lr: float = 1e-3
    update_iters: int = 10
    minibatch_size: int = 128
    l2: float = 0.001

    def __post_init__(self):
        _require(self.lr > 0 and self.update_iters > 0 and self.minibatch_size > 0,
                 "critic lr, update iterations and minibatch size must be > 0")


@dataclass(frozen=True)
class LagrangeConfig:
    """Multiplier ascent: Adam (the reference library's default) or plain SGD, whose step is
    proportional to the violation Jc - d and so settles instead of cycling on its momentum."""

    init: float = 0.001
    lr: float = 0.035
    optimizer: Literal["adam", "sgd"] = "adam"

    def __post_init__(self):
        _require(self.init >= 0, f"Lagrange multiplier init must be >= 0, got {self.init}")
        _require(self.lr > 0, f"Lagrange lr must be > 0, got {self.lr}")
        _require(self.optimizer in ("adam", "sgd"), f"Lagrange optimizer must be adam or sgd, got {self.optimizer!r}")


@dataclass(frozen=True)
class ShapoConfig:
    """SHAPO (actor perturbation) and SAM (critics) switches; see ``shapo_rl.optim.sharpness``."""

    geometry: Geometry = "none"
    radius: float = 1e-5
    schedule: Schedule = "constant"
    percentile: float = 0.05
    critic_sam: bool = False
    critic_sam_rho: float = 0.05
    critic_sam_on: SamCritics = "both"

    def __post_init__(self):
        _require(self.geometry in ("none", "fisher", "euclidean"),
                 f"--shapo must be none, fisher or euclidean, got {self.geometry!r}")
        _require(self.schedule in ("constant", "percentile", "decay"),
                 f"--shapo-schedule must be constant, percentile or decay, got {self.schedule!r}")
        _require(self.radius >= 0, f"--shapo-radius must be >= 0, got {self.radius}")
        _require(0 < self.percentile <= 0.5, f"--shapo-percentile must lie in (0, 0.5], got {self.percentile}")
        _require(self.critic_sam_rho >= 0, f"--critic-sam-rho must be >= 0, got {self.critic_sam_rho}")
        _require(self.critic_sam_on in ("both", "reward", "cost"),
                 f"--critic-sam-on must be both, reward or cost, got {self.critic_sam_on!r}")

    def critic_sam_radii(self) -> tuple[float, float]:
        """SAM radii of the (reward, cost) critics: rho_c where SAM is on, 0 (plain Adam) elsewhere."""
        on = {"both": (True, True), "reward": (True, False), "cost": (False, True)}[self.critic_sam_on]
        return tuple(self.critic_sam_rho if self.critic_sam and flag else 0.0 for flag in on)


@dataclass(frozen=True)
class TrainConfig:
    algo: str
    env: str
    steps: int
    steps_per_epoch: int = 20_000
    num_envs: int | None = None  # None: as many envs as whole episodes fit in an epoch
    cost_limit: float | None = None  # None: the task's default
    seed: int = 0
    gamma: float = 0.99
    cost_gamma: float = 0.99
    gae_lambda: float = 0.95
    normalize_obs: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    trust_region: TrustRegionConfig = field(default_factory=TrustRegionConfig)
    clip: ClipConfig = field(default_factory=ClipConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    lagrange: LagrangeConfig = field(default_factory=LagrangeConfig)
    shapo: ShapoConfig = field(default_factory=ShapoConfig)

    def __post_init__(self):
        _require(self.steps_per_epoch > 0, f"--steps-per-epoch must be > 0, got {self.steps_per_epoch}")
        if self.num_envs is not None:
            _require(self.num_envs > 0, f"--num-envs must be > 0, got {self.num_envs}")
            _require(self.steps_per_epoch % self.num_envs == 0,
                     f"--steps-per-epoch ({self.steps_per_epoch}) must be a multiple of --num-envs ({self.num_envs})")
        _require(self.steps >= self.steps_per_epoch and self.steps % self.steps_per_epoch == 0,
                 f"--steps ({self.steps}) must be a positive multiple of --steps-per-epoch ({self.steps_per_epoch})")
        _require(self.cost_limit is None or self.cost_limit >= 0,
                 f"--cost-limit must be >= 0, got {self.cost_limit}")
        _require(0 < self.gamma <= 1 and 0 < self.cost_gamma <= 1 and 0 <= self.gae_lambda <= 1,
                 "gamma and cost gamma must lie in (0, 1], GAE lambda in [0, 1]")

    @property
    def epochs(self) -> int:
        return self.steps // self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Inverse of ``to_dict``; unknown keys are an error (a config from another tool)."""
        nested = {"model": ModelConfig, "trust_region": TrustRegionConfig, "clip": ClipConfig,
                  "critic": CriticConfig, "lagrange": LagrangeConfig, "shapo": ShapoConfig}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        _require(not unknown, f"unknown configuration keys: {sorted(unknown)}")
        kwargs = dict(data)
        for key, sub in nested.items():
            if key in kwargs:
                value = dict(kwargs[key])
                sub_names = {f.name for f in dataclasses.fields(sub)}
                _require(set(value) <= sub_names, f"unknown keys in {key}: {sorted(set(value) - sub_names)}")
                if "hidden_sizes" in value:
                    value["hidden_sizes"] = tuple(value["hidden_sizes"])
                kwargs[key] = sub(**value)
        return cls(**kwargs)
