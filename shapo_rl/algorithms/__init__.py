"""Algorithms on one protocol (``protocol.py``), their registry, and the LightningModule."""

from shapo_rl.algorithms.module import SafePolicyOptimization
from shapo_rl.algorithms.protocol import Algorithm, Discounts, UpdateBatch, UpdateContext
from shapo_rl.algorithms.registry import (
    ALGORITHMS,
    AlgorithmEntry,
    UnknownAlgorithmError,
    apply_settings,
    config_from_dict,
    env_transforms,
    get_algorithm,
    make_run_env,
    with_algorithm_defaults,
)

__all__ = ["ALGORITHMS", "Algorithm", "AlgorithmEntry", "Discounts", "SafePolicyOptimization", "UnknownAlgorithmError",
           "UpdateBatch", "UpdateContext", "apply_settings", "config_from_dict", "env_transforms",
           "get_algorithm", "make_run_env", "with_algorithm_defaults"]
