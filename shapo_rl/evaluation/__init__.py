"""Checkpoint evaluation: load a run, play episodes (optionally under random-action attack)."""

from shapo_rl.evaluation.checkpoint import CheckpointError, find_checkpoint, load_module
from shapo_rl.evaluation.episodes import EvaluationResult, RandomActionAttack, run_episodes

__all__ = ["CheckpointError", "EvaluationResult", "RandomActionAttack", "find_checkpoint", "load_module",
           "run_episodes"]
