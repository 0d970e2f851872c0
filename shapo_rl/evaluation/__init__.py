"""Checkpoint evaluation: play episodes (optionally under random-action attack), summarise them,
sweep attack rates, render videos."""

from shapo_rl.evaluation.attack import SweepError, attack_sweep, parse_rates
from shapo_rl.evaluation.episodes import EvaluationResult, RandomActionAttack, run_episodes
from shapo_rl.evaluation.statistics import PERCENTILES, describe, episode_summary, standard_error

__all__ = ["PERCENTILES", "EvaluationResult", "RandomActionAttack", "SweepError", "attack_sweep", "describe",
           "episode_summary", "parse_rates", "run_episodes", "standard_error"]
