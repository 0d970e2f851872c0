"""Actor and critics (value and quantile): MLPs with tanh activations (64x64 by default).

Names are imported on first use, so that importing :mod:`shapo_rl.models.networks` alone (the
critic regression's child process does) loads torch and not TorchRL.
"""

from importlib import import_module

_MODULE_OF = {
    "GaussianPolicy": "actor", "make_collection_policy": "actor",
    "make_critics": "critic",
    "StackedMLP": "networks", "mlp": "networks",
    "QuantileCritic": "quantile", "quantile_huber_loss": "quantile", "upper_cvar": "quantile",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
