"""The algorithm registry: the single source of truth for CLI choices, `list algos`, recipes and tests.

An entry names an algorithm class and the config that gives the entry its defaults (``trpo``,
``trpo-lag`` and ``trpo-pid`` are one class with three penalties). Adding an algorithm is its
module plus one line here. The functions below build and rebuild a run's configuration with the
algorithm's config nested in it: every field of both is reachable by ``--set path=value`` (a
path that is not a run setting is looked up in the algorithm's config, so ``pid.kp`` means
``algorithm.pid.kp``). :func:`make_run_env` is the one builder of a run's envs, with the env
transforms its algorithm declares.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torchrl.envs import Transform, TransformedEnv

from shapo_rl import settings
from shapo_rl.algorithms.cpo import CPO, CPOConfig
from shapo_rl.algorithms.crpo import CRPO, CRPOConfig
from shapo_rl.algorithms.cup import CUP, CUPConfig
from shapo_rl.algorithms.focops import FOCOPS, FOCOPSConfig
from shapo_rl.algorithms.pcpo import PCPO, PCPOConfig
from shapo_rl.algorithms.ppo import PenalizedPPO, PPOConfig
from shapo_rl.algorithms.protocol import Algorithm
from shapo_rl.algorithms.rcpo import RCPO, RCPOConfig
from shapo_rl.algorithms.saute import SautePPO, SautePPOConfig, SauteTRPO, SauteTRPOConfig
from shapo_rl.algorithms.strpo import STRPO, STRPOConfig
from shapo_rl.algorithms.trpo import PenalizedTRPO, TRPOConfig
from shapo_rl.algorithms.unsafe import UnsafeTRPO, UnsafeTRPOConfig
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs import ObservationNormalizer, get_task, make_env
from shapo_rl.lookup import lookup
from shapo_rl.presets import PRESETS


class UnknownAlgorithmError(ValueError):
    """An algorithm name that is not registered; the message suggests the nearest names."""


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    algorithm: type[Algorithm]
    defaults: Any
    summary: str
    paper: str

    def build(self, config: TrainConfig, cost_limit: float, obs_dim: int, act_dim: int) -> Algorithm:
        return self.algorithm.from_run(config, cost_limit=cost_limit, obs_dim=obs_dim, act_dim=act_dim)


ALGORITHMS: dict[str, AlgorithmEntry] = {
    entry.name: entry
    for entry in (
        AlgorithmEntry("trpo", PenalizedTRPO, TRPOConfig(multiplier="none"),
                       "natural-gradient trust-region step, cost ignored", "Schulman et al. 2015"),
        AlgorithmEntry("trpo-lag", PenalizedTRPO, TRPOConfig(multiplier="lagrange"),
                       "TRPO on (A_r - lambda A_c)/(1 + lambda), lambda by gradient ascent on Jc - d",
                       "Ray et al. 2019"),
        AlgorithmEntry("trpo-pid", PenalizedTRPO, TRPOConfig(multiplier="pid"),
                       "TRPO on (A_r - lambda A_c)/(1 + lambda), lambda by a PID controller on Jc - d",
                       "Stooke et al. 2020"),
        AlgorithmEntry("ppo", PenalizedPPO, PPOConfig(multiplier="none"),
                       "clipped-surrogate minibatch epochs, cost ignored", "Schulman et al. 2017"),
        AlgorithmEntry("ppo-lag", PenalizedPPO, PPOConfig(multiplier="lagrange"),
                       "PPO-Clip on (A_r - lambda A_c)/(1 + lambda), lambda by gradient ascent on Jc - d",
                       "Ray et al. 2019"),
        AlgorithmEntry("cppo-pid", PenalizedPPO, PPOConfig(multiplier="pid"),
                       "PPO-Clip on (A_r - lambda A_c)/(1 + lambda), lambda by a PID controller on Jc - d",
                       "Stooke et al. 2020"),
        AlgorithmEntry("cpo", CPO, CPOConfig(),
                       "trust-region step in the linearised cost constraint, solved through its dual",
                       "Achiam et al. 2017"),
        AlgorithmEntry("pcpo", PCPO, PCPOConfig(),
                       "TRPO reward step, then its KL projection onto the linearised cost constraint",
                       "Yang et al. 2020"),
        AlgorithmEntry("crpo", CRPO, CRPOConfig(),
                       "TRPO step on the cost when Jc > d + tolerance, else on the reward", "Xu et al. 2021"),
        AlgorithmEntry("rcpo", RCPO, RCPOConfig(),
                       "natural gradient on the penalised reward r - lambda c, lambda by gradient ascent on Jc - d",
                       "Tessler et al. 2019"),
        AlgorithmEntry("trpo-saute", SauteTRPO, SauteTRPOConfig(),
                       "TRPO on the Saute MDP: remaining budget z in the state, unsafe_reward once z <= 0",
                       "Sootla et al. 2022"),
        AlgorithmEntry("ppo-saute", SautePPO, SautePPOConfig(),
                       "PPO-Clip on the Saute MDP: remaining budget z in the state, unsafe_reward once z <= 0",
                       "Sootla et al. 2022"),
        AlgorithmEntry("cup", CUP, CUPConfig(),
                       "PPO-Clip on A_r, then a projection onto the cost-penalised KL neighbourhood",
                       "Yang et al. 2022"),
        AlgorithmEntry("focops", FOCOPS, FOCOPSConfig(),
                       "first-order KL-regularised loss on A_r - nu A_c, per-state KL indicator",
                       "Zhang et al. 2020"),
        AlgorithmEntry("unsafe-trpo", UnsafeTRPO, UnsafeTRPOConfig(),
                       "TRPO maximising cost (reward := cost): the unsafe policy of strpo", "sTRPO paper, eq. 3"),
        AlgorithmEntry("unsafe-dtrpo", UnsafeTRPO, UnsafeTRPOConfig(distributional=True),
                       "unsafe-trpo with a quantile cost critic, TD residual on its upper-tail CVaR_alpha",
                       "sTRPO paper, eq. 4"),
        AlgorithmEntry("strpo", STRPO, STRPOConfig(),
                       "TRPO on z(A_r) - lambda_PID z(A_c) in a trust region excluding a frozen unsafe policy "
                       "(--unsafe-policy)", "sTRPO paper, eqs. 6-10"),
    )
}


def get_algorithm(name: str) -> AlgorithmEntry:
    return lookup(ALGORITHMS, name, kind="algorithm", error=UnknownAlgorithmError)


def env_transforms(config: TrainConfig) -> list[Transform]:
    """The env transforms a resolved run's algorithm declares for its task's episode length; a
    run the algorithm refuses (Saute with cost limit 0) is a :class:`ConfigError`."""
    return get_algorithm(config.algo).algorithm.env_transforms(
        config.algorithm, cost_limit=config.cost_limit, episode_steps=get_task(config.env).max_episode_steps)


def make_run_env(config: TrainConfig, *, num_envs: int, seed: int = 0,
                 obs_normalizer: ObservationNormalizer | None = None, processes: int = 1,
                 render_mode: str | None = None) -> TransformedEnv:
    """A resolved run's env (training, evaluation, attacks, videos, the dimension probe): its
    task with its algorithm's :func:`env_transforms`, observations normalised by
    ``obs_normalizer`` when given (a run without normalisation has none), the raw observations
    kept too where the algorithm asks (``Algorithm.keeps_raw_observation``); see ``make_env``."""
    return make_env(config.env, num_envs=num_envs, seed=seed, normalize_obs=obs_normalizer is not None,
                    obs_normalizer=obs_normalizer, processes=processes, render_mode=render_mode,
                    transforms=env_transforms(config),
                    keep_raw_obs=get_algorithm(config.algo).algorithm.keeps_raw_observation,
                    backend=config.env_backend, threads=config.physics_threads or None)


def with_algorithm_defaults(config: TrainConfig) -> TrainConfig:
    """``config`` with the algorithm's registered defaults where it has no algorithm config;
    an algorithm config of another algorithm is an error."""
    entry = get_algorithm(config.algo)
    if config.algorithm is None:
        return dataclasses.replace(config, algorithm=entry.defaults)
    if type(config.algorithm) is not type(entry.defaults):
        raise ConfigError(f"{type(config.algorithm).__name__} is not the config of {config.algo} "
                          f"({type(entry.defaults).__name__})")
    return config


def apply_settings(config: TrainConfig, assignments: Sequence[str] | Mapping[str, Any]) -> TrainConfig:
    """``config`` (algorithm defaults filled in) with each ``path=value`` of ``assignments`` (CLI
    strings, or a mapping of paths to values) set, validated by the config dataclasses; an
    unknown path names the nearest ones."""
    config = with_algorithm_defaults(config)
    run_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    pairs = assignments.items() if isinstance(assignments, Mapping) else map(settings.parse_setting, assignments)
    for path, value in pairs:
        if path == "preset":
            config = with_preset(config, value)
            continue
        if path.split(".")[0] not in run_fields:
            path = f"algorithm.{path}"
        config = settings.with_setting(config, path, value)
    return config


def with_preset(config: TrainConfig, name: Any) -> TrainConfig:
    """``config`` with the settings of the preset ``name`` (:mod:`shapo_rl.presets`) where it
    still holds the default value, and ``preset`` set to ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
    # the budget is the run's own (a preset sets none of it; the defaults must form a valid config)
    fresh = TrainConfig(config.algo, config.env, config.steps, steps_per_epoch=config.steps_per_epoch)
    defaults = settings.setting_paths(with_algorithm_defaults(fresh))
    current = settings.setting_paths(config)
    for path, value in PRESETS[name].items():
        if current[path] == defaults[path]:
            config = settings.with_setting(config, path, value)
    return settings.with_setting(config, "preset", name)


def config_from_dict(data: Any) -> TrainConfig:
    """Rebuild a run's configuration from plain data (config.yaml, a checkpoint's copy)."""
    if not isinstance(data, dict) or "algo" not in data:
        raise ConfigError("a run configuration needs at least the key 'algo'")
    entry = get_algorithm(data["algo"])
    nested = {"algorithm": type(entry.defaults)} if data.get("algorithm") is not None else {}
    return settings.from_dict(TrainConfig, data, nested=nested)
