"""Checkpoint evaluation: play episodes (optionally under random-action attack)."""

from shapo_rl.evaluation.episodes import EvaluationResult, RandomActionAttack, run_episodes

__all__ = ["EvaluationResult", "RandomActionAttack", "run_episodes"]
