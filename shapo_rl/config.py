"""Typed, frozen run configuration, built at the CLI edge and passed down whole.

A run's configuration is a :class:`TrainConfig` (what every algorithm shares: task, budget,
discounts, networks, critics, the SHAPO switches) with the algorithm's own frozen config nested
in ``algorithm`` (each algorithm module defines its dataclass from the shared parts below).
Defaults follow the reference library's on-policy settings (20,000-step epochs, 64x64 tanh MLPs,
gamma = 0.99, GAE lambda = 0.95, TRPO target KL 0.01 with CG 15 / damping 0.1 / 15 x 0.8 line
search, PPO clip 0.2 with 40 iterations of batch 64, critic lr 1e-3 over 10 iterations of batch 128,
Lagrange init 0.001 and lr 0.035, PID kp 0.1 / ki 0.01 / kd 0.01) and the SHAPO authors' (radius
1e-5, critic SAM rho 0.05). Every dataclass validates itself at construction with a message a
user can act on, so a configuration that exists is a valid one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from shapo_rl.presets import PRESETS

Geometry = Literal["none", "fisher", "euclidean"]
Schedule = Literal["constant", "percentile", "decay"]
SamCritics = Literal["both", "reward", "cost"]
Multiplier = Literal["none", "lagrange", "pid"]
PerturbationFallback = Literal["zero", "tenth"]


class ConfigError(ValueError):
    """A configuration value a user gave is invalid; the message says which and why."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


@dataclass(frozen=True)
class ModelConfig:
    """The Gaussian actor and the KL that measures its steps.

    ``init_log_std``: the starting log sigma (0: sigma 1). ``actor_init``: ``"torch"`` (PyTorch's
    default layer init) or ``"orthogonal"`` (gain sqrt 2 on hidden layers, the output layer
    scaled to 0.01 of gain 1, so the initial mean is about 0). ``kl_reduction``: the KL of a
    diagonal Gaussian averaged over action dimensions (``"mean"``) or summed over them (``"sum"``,
    the true KL: a radius then means act_dim times less). It applies to the trust region (delta,
    Fisher-vector products, line search) and to the SHAPO perturbation's KL ball, so the SHAPO
    authors' radius 1e-5 means here what it meant in their code; PPO's early stop keeps the
    summed KL, as the reference library.

    Defaults are the reference library's (sigma 1, PyTorch init, mean KL), chosen by measurement
    (``benchmarks/parity.py``: TRPO-Lag on SafetyPointGoal1-v0, 200k steps, seeds 0-2, return over
    the last 50 episodes): the former defaults (sigma 0.61, orthogonal init with a 0.01 head,
    summed KL) reached 5.1 +- 1.0 where the reference library reaches 12.5 +- 1.5; each of these
    alone raised it to 6.3-7.6 and all of them together (with the normaliser, cost window and
    critic clip of ``TrainConfig`` and ``CriticConfig``) to 10.4 +- 2.2 at the same cost.
    """

    hidden_sizes: tuple[int, ...] = (64, 64)
    init_log_std: float = 0.0
    actor_init: Literal["orthogonal", "torch"] = "torch"
    kl_reduction: Literal["sum", "mean"] = "mean"

    def __post_init__(self):
        require(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes),
                f"hidden sizes must be positive, got {self.hidden_sizes}")
        require(_finite(self.init_log_std), f"init_log_std must be finite, got {self.init_log_std}")
        require(self.actor_init in ("orthogonal", "torch"), f"actor_init must be orthogonal or torch, got {self.actor_init!r}")
        require(self.kl_reduction in ("sum", "mean"), f"kl_reduction must be sum or mean, got {self.kl_reduction!r}")


@dataclass(frozen=True)
class TrustRegionConfig:
    """TRPO step (Schulman et al. 2015): delta, CG and backtracking settings."""

    max_kl: float = 0.01
    cg_iters: int = 15
    damping: float = 0.1
    backtrack_ratio: float = 0.8
    backtrack_iters: int = 15

    def __post_init__(self):
        require(0 < self.max_kl < math.inf, f"trust-region max_kl must be > 0 and finite, got {self.max_kl}")
        require(0 < self.backtrack_ratio < 1, f"backtrack_ratio must lie in (0, 1), got {self.backtrack_ratio}")
        require(self.cg_iters >= 1 and self.backtrack_iters >= 1, "cg_iters and backtrack_iters must be >= 1")
        require(0 <= self.damping < math.inf, f"damping must be >= 0 and finite, got {self.damping}")


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
        require(0 < self.clip < math.inf, f"PPO clip must be > 0, got {self.clip}")
        require(self.minibatch_size > 0 and self.update_iters > 0, "PPO minibatch size and iterations must be > 0")
        require(0 < self.lr < math.inf and 0 < self.target_kl and 0 < self.max_grad_norm,
                "PPO lr, target_kl and max_grad_norm must be > 0")


@dataclass(frozen=True)
class MinibatchConfig:
    """Epochs of Adam minibatch steps on a first-order loss without a clip (FOCOPS, CUP's
    projection), early-stopped at a target KL; the PPO family's numbers (the reference library)."""

    target_kl: float = 0.02
    update_iters: int = 40
    minibatch_size: int = 64
    lr: float = 3e-4
    max_grad_norm: float = 40.0

    def __post_init__(self):
        require(self.minibatch_size > 0 and self.update_iters > 0, "minibatch size and iterations must be > 0")
        require(0 < self.lr < math.inf and 0 < self.target_kl and 0 < self.max_grad_norm,
                "minibatch lr, target_kl and max_grad_norm must be > 0")


@dataclass(frozen=True)
class CriticConfig:
    """Critic regression; ``max_grad_norm`` clips each critic's gradient norm (None: no clip); 40
    is the reference library's, part of the measured parity defaults (see ``ModelConfig``).
    ``init``: each layer orthogonal (gain sqrt 2 on hidden layers, 1 on the head, zero biases) or
    PyTorch's default ``nn.Linear`` init (the SHAPO authors' code)."""

    lr: float = 1e-3
    update_iters: int = 10
    minibatch_size: int = 128
    l2: float = 0.001
    max_grad_norm: float | None = 40.0
    init: Literal["orthogonal", "default"] = "orthogonal"

    def __post_init__(self):
        require(0 < self.lr < math.inf and self.update_iters > 0 and self.minibatch_size > 0,
                "critic lr, update iterations and minibatch size must be > 0")
        require(self.init in ("orthogonal", "default"), f"critic init must be orthogonal or default, got {self.init!r}")
        require(0 <= self.l2 < math.inf, f"critic l2 must be >= 0, got {self.l2}")
        require(self.max_grad_norm is None or 0 < self.max_grad_norm < math.inf,
                f"critic max_grad_norm must be > 0, got {self.max_grad_norm}")


@dataclass(frozen=True)
class LagrangeConfig:
    """Multiplier ascent: Adam (the reference library's default) or plain SGD, whose step is
    proportional to the violation Jc - d and so settles instead of cycling on its momentum.
    ``upper``: the multiplier is projected onto [0, upper] (None: [0, inf))."""

    init: float = 0.001
    lr: float = 0.035
    optimizer: Literal["adam", "sgd"] = "adam"
    upper: float | None = None

    def __post_init__(self):
        require(0 <= self.init < math.inf, f"Lagrange multiplier init must be >= 0, got {self.init}")
        require(0 < self.lr < math.inf, f"Lagrange lr must be > 0, got {self.lr}")
        require(self.optimizer in ("adam", "sgd"), f"Lagrange optimizer must be adam or sgd, got {self.optimizer!r}")
        require(self.upper is None or self.init <= self.upper < math.inf,
                f"Lagrange upper bound must be finite and >= init ({self.init}), got {self.upper}")


@dataclass(frozen=True)
class PIDConfig:
    """PID Lagrangian (Stooke et al. 2020) with the reference library's defaults."""

    kp: float = 0.1
    ki: float = 0.01
    kd: float = 0.01
    derivative_delay: int = 10
    p_ema: float = 0.95
    d_ema: float = 0.95
    sum_norm: bool = True
    diff_norm: bool = False
    penalty_max: float = 100.0
    init: float = 0.001

    def __post_init__(self):
        require(min(self.kp, self.ki, self.kd) >= 0 and _finite(self.kp, self.ki, self.kd),
                "PID gains kp, ki, kd must be >= 0 and finite")
        require(self.derivative_delay >= 1, f"PID derivative_delay must be >= 1, got {self.derivative_delay}")
        require(0 <= self.p_ema < 1 and 0 <= self.d_ema < 1, "PID p_ema and d_ema must lie in [0, 1)")
        require(0 < self.penalty_max < math.inf, f"PID penalty_max must be > 0, got {self.penalty_max}")
        require(0 <= self.init < math.inf, f"PID init must be >= 0, got {self.init}")


@dataclass(frozen=True)
class PenaltyConfig:
    """How the cost enters a penalised (Lagrangian) objective: not at all, a multiplier by
    gradient ascent, or a PID-controlled multiplier. The actor ascends (A_r - lambda A_c)/(1 + lambda)."""

    multiplier: Multiplier = "lagrange"
    lagrange: LagrangeConfig = field(default_factory=LagrangeConfig)
    pid: PIDConfig = field(default_factory=PIDConfig)

    def __post_init__(self):
        require(self.multiplier in ("none", "lagrange", "pid"),
                f"multiplier must be none, lagrange or pid, got {self.multiplier!r}")


@dataclass(frozen=True)
class ShapoConfig:
    """SHAPO (actor perturbation) and SAM (critics) switches; see ``shapo_rl.optim.sharpness``.

    ``cg_iters`` and ``damping`` are those of the perturbation's own natural-gradient solve.
    ``fallback``: the perturbation when no backtrack of eps0 fits in the KL ball: ``"zero"`` (no
    perturbation, g_shapo = g) or ``"tenth"`` (0.1 eps0, whatever its KL: the authors' code)."""

    geometry: Geometry = "none"
    radius: float = 1e-5
    schedule: Schedule = "constant"
    percentile: float = 0.05
    cg_iters: int = 15
    damping: float = 0.1
    fallback: PerturbationFallback = "zero"
    critic_sam: bool = False
    critic_sam_rho: float = 0.05
    critic_sam_on: SamCritics = "both"

    def __post_init__(self):
        require(self.geometry in ("none", "fisher", "euclidean"),
                f"--shapo must be none, fisher or euclidean, got {self.geometry!r}")
        require(self.schedule in ("constant", "percentile", "decay"),
                f"--shapo-schedule must be constant, percentile or decay, got {self.schedule!r}")
        require(0 <= self.radius < math.inf, f"--shapo-radius must be >= 0 and finite, got {self.radius}")
        require(0 < self.percentile <= 0.5, f"--shapo-percentile must lie in (0, 0.5], got {self.percentile}")
        require(self.cg_iters >= 1 and 0 <= self.damping < math.inf, "SHAPO cg_iters must be >= 1, damping >= 0")
        require(self.fallback in ("zero", "tenth"), f"SHAPO fallback must be zero or tenth, got {self.fallback!r}")
        require(0 <= self.critic_sam_rho < math.inf, f"--critic-sam-rho must be >= 0, got {self.critic_sam_rho}")
        require(self.critic_sam_on in ("both", "reward", "cost"),
                f"--critic-sam-on must be both, reward or cost, got {self.critic_sam_on!r}")

    @property
    def fallback_fraction(self) -> float:
        """The fraction of eps0 the perturbation takes when no backtrack fits."""
        return {"zero": 0.0, "tenth": 0.1}[self.fallback]

    def critic_sam_radii(self) -> tuple[float, float]:
        """SAM radii of the (reward, cost) critics: rho_c where SAM is on, 0 (plain Adam) elsewhere."""
        on = {"both": (True, True), "reward": (True, False), "cost": (False, True)}[self.critic_sam_on]
        return tuple(self.critic_sam_rho if self.critic_sam and flag else 0.0 for flag in on)


@dataclass(frozen=True)
class TrainConfig:
    """One run. ``algorithm`` is the algorithm's own config (None: its registered default,
    filled in when the run is resolved)."""

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
    # The reference library's normaliser and cost window, part of the measured parity set (see
    # ModelConfig; the floor keeps PointGoal1's lidar bins, std ~1e-3, from turning into
    # +-obs_clip spikes). Switched alone, the normaliser measured no gain there (4.7 +- 0.8 against
    # 5.1 +- 1.0); the window and the critic clip were measured only within the set.
    obs_clip: float | None = 5.0  # normalised observations are clipped to [-obs_clip, obs_clip]; None: no clip
    obs_std_floor: float = 0.01  # their std is floored here; 0: sqrt(var + 1e-8)
    # The statistics start as this many pseudo-observations of mean 0 and variance 1: gymnasium's
    # NormalizeObservation starts its RunningMeanStd at 1e-4; 0: the observations alone.
    obs_prior_count: float = 0.0
    episode_cost_window: int = 50  # Jc over the last N episodes; 0: the epoch's episodes
    model: ModelConfig = field(default_factory=ModelConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    shapo: ShapoConfig = field(default_factory=ShapoConfig)
    variant: str = ""  # a free label reports group runs by (a recipe's variant name); training ignores it
    preset: str = ""  # the preset the run's defaults came from (shapo_rl.presets), a record only
    # Who steps the simulators around their physics: "fast" (batched per task family, the same
    # numbers) or "stock" (each env's own code); see shapo_rl.envs.batched.
    env_backend: str = "fast"
    # Threads a fast slice steps its physics in (mj_step releases the GIL); 0: this process's
    # share of the machine's cores (the cgroup's CPU quota where it sets one). The envs are
    # split between them, each env stepped by one thread, so the numbers do not depend on it.
    physics_threads: int = 0
    algorithm: Any = None

    def __post_init__(self):
        require(self.steps_per_epoch > 0, f"--steps-per-epoch must be > 0, got {self.steps_per_epoch}")
        if self.num_envs is not None:
            require(self.num_envs > 0, f"--num-envs must be > 0, got {self.num_envs}")
            require(self.steps_per_epoch % self.num_envs == 0,
                    f"--steps-per-epoch ({self.steps_per_epoch}) must be a multiple of --num-envs ({self.num_envs})")
        require(self.steps >= self.steps_per_epoch and self.steps % self.steps_per_epoch == 0,
                f"--steps ({self.steps}) must be a positive multiple of --steps-per-epoch ({self.steps_per_epoch})")
        require(self.cost_limit is None or 0 <= self.cost_limit < math.inf,
                f"--cost-limit must be >= 0 and finite, got {self.cost_limit}")
        require(0 <= self.seed < 2**32, f"--seed must lie in [0, 2^32), got {self.seed}")
        require(0 < self.gamma <= 1 and 0 < self.cost_gamma <= 1 and 0 <= self.gae_lambda <= 1,
                "gamma and cost gamma must lie in (0, 1], GAE lambda in [0, 1]")
        require((self.obs_clip is None or 0 < self.obs_clip < math.inf) and 0 <= self.obs_std_floor < math.inf
                and 0 <= self.obs_prior_count < math.inf,
                "obs_clip must be > 0 (or null: no clip), obs_std_floor and obs_prior_count >= 0 and finite")
        require(self.preset in ("", *PRESETS), f"unknown preset {self.preset!r} (presets: {', '.join(PRESETS)})")
        require(self.env_backend in ("fast", "stock"),
                f"env_backend must be fast or stock, got {self.env_backend!r}")
        require(self.physics_threads >= 0, f"physics_threads must be >= 0 (0: one per core), got {self.physics_threads}")
        require(self.episode_cost_window >= 0, f"episode_cost_window must be >= 0, got {self.episode_cost_window}")
        require(self.algorithm is None or dataclasses.is_dataclass(self.algorithm),
                f"algorithm settings must be an algorithm config, got {type(self.algorithm).__name__}")

    @property
    def epochs(self) -> int:
        return self.steps // self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
