"""Actor and critics: MLPs with tanh activations (64x64 by default)."""

from shapo_rl.models.actor import GaussianPolicy, make_collection_policy
from shapo_rl.models.critic import StackedMLP, make_critics, mlp

__all__ = ["GaussianPolicy", "StackedMLP", "make_collection_policy", "make_critics", "mlp"]
