"""Import safety_gymnasium 1.0.0 on Python 3.11.

safety_gymnasium 1.0.0 declares geom dataclasses whose fields default to numpy arrays
(``color: np.ndarray = np.array([...])``). Python 3.11's ``dataclasses`` rejects such mutable
defaults with ``ValueError: mutable default <class 'numpy.ndarray'> for field color``. During
that one import we substitute a ``dataclasses.dataclass`` that first turns every ndarray class
attribute into ``field(default_factory=value.copy)``, then restore the original decorator.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import threading
from types import ModuleType
from typing import Any

import numpy as np

_LOCK = threading.Lock()


def _array_safe_dataclass(original: Any) -> Any:
    """Wrap ``dataclasses.dataclass`` so ndarray defaults become default factories."""

    def fix(cls: type) -> type:
        for name in getattr(cls, "__annotations__", {}):
            value = cls.__dict__.get(name)
            if isinstance(value, np.ndarray):
                setattr(cls, name, dataclasses.field(default_factory=value.copy))
        return cls

    def dataclass(cls: type | None = None, /, **kwargs: Any) -> Any:
        if cls is None:
            return lambda c: original(fix(c), **kwargs)
        return original(fix(cls), **kwargs)

    return dataclass


def import_safety_gymnasium() -> ModuleType:
    """Return the ``safety_gymnasium`` module, importing it with the Python 3.11 fix once."""
    with _LOCK:
        if "safety_gymnasium" in sys.modules:
            return sys.modules["safety_gymnasium"]
        original = dataclasses.dataclass
        dataclasses.dataclass = _array_safe_dataclass(original)
        try:
            return importlib.import_module("safety_gymnasium")
        finally:
            dataclasses.dataclass = original
