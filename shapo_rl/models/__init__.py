"""Actor and critics (value and quantile): MLPs with tanh activations (64x64 by default)."""

from shapo_rl.models.actor import GaussianPolicy, make_collection_policy
from shapo_rl.models.critic import StackedMLP, make_critics, mlp
from shapo_rl.models.quantile import QuantileCritic, quantile_huber_loss, upper_cvar

__all__ = ["GaussianPolicy", "QuantileCritic", "StackedMLP", "make_collection_policy", "make_critics", "mlp", "quantile_huber_loss",
           "upper_cvar"]
