"""Name lookup in a registry, with the nearest valid names suggested on a miss."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, *, kind: str, error: type[ValueError]) -> T:
    """``registry[name]``, or ``error`` with a one-line message naming the closest entries."""
    try:
        return registry[name]
    except KeyError:
        near = difflib.get_close_matches(name, registry, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise error(f"unknown {kind} {name!r}{hint} (known: {', '.join(registry)})") from None
