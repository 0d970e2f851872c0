"""Checkpoint evaluation: load a run safely, play episodes (optionally under random-action
attack), summarise them, sweep attack rates, render videos."""

from shapo_rl.evaluation.attack import SweepError, attack_sweep, parse_rates
from shapo_rl.evaluation.checkpoint import CheckpointError, checkpoint_path, load_module, read_checkpoint, run_directory
from shapo_rl.evaluation.episodes import EvaluationResult, RandomActionAttack, run_episodes
from shapo_rl.evaluation.statistics import PERCENTILES, describe, episode_summary, standard_error

__all__ = ["PERCENTILES", "CheckpointError", "EvaluationResult", "RandomActionAttack", "SweepError", "attack_sweep",
           "checkpoint_path", "describe", "episode_summary", "load_module", "parse_rates", "read_checkpoint",
           "run_directory", "run_episodes", "standard_error"]
