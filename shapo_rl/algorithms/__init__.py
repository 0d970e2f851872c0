"""Algorithms: a registry of compositions (actor update x constraint), one LightningModule."""

from shapo_rl.algorithms.module import SafePolicyOptimization
from shapo_rl.algorithms.registry import ALGORITHMS, AlgorithmSpec, UnknownAlgorithmError, get_algorithm

__all__ = ["ALGORITHMS", "AlgorithmSpec", "SafePolicyOptimization", "UnknownAlgorithmError", "get_algorithm"]
