"""Import safety_gymnasium 1.0.0 on Python 3.11.

safety_gymnasium 1.0.0 declares geom dataclasses whose fields default to numpy arrays
(``color: np.ndarray = np.array([...])``). Python 3.11's ``dataclasses`` rejects such mutable
defaults with ``ValueError: mutable default <class 'numpy.ndarray'> for field color``. During
that one import we substitute a ``dataclasses.dataclass`` that first turns every ndarray class
attribute into ``field(default_factory=value.copy)``, then restore the original decorator.

safety_gymnasium imports gymnasium_robotics, whose 1.2.2 release (the version safety_gymnasium
needs) prints a notice about its Adroit hand tasks' rewards to stderr at import. No task of this
library is an Adroit task, so that one notice is dropped from the notification table first.
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


def _drop_adroit_notice() -> None:
    try:
        from farama_notifications import notifications
    except ImportError:
        return
    notifications.get("gymnasium_robotics", {}).pop("1.2.2", None)


def import_safety_gymnasium() -> ModuleType:
    """Return the ``safety_gymnasium`` module, importing it with the Python 3.11 fix once."""
    with _LOCK:
        if "safety_gymnasium" in sys.modules:
            return sys.modules["safety_gymnasium"]
        _drop_adroit_notice()
        original = dataclasses.dataclass
        dataclasses.dataclass = _array_safe_dataclass(original)
        try:
            return importlib.import_module("safety_gymnasium")
        finally:
            dataclasses.dataclass = original
