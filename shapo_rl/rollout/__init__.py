"""From environments to training batches: collectors, the Lightning data source, advantages."""

from shapo_rl.rollout.advantages import AdvantageEstimator, standardize
from shapo_rl.rollout.data import RolloutSource, episode_statistics

__all__ = ["AdvantageEstimator", "RolloutSource", "episode_statistics", "standardize"]
