"""Parse safety-gymnasium's asset table once, not at every world build.

Every reset of a builder task rebuilds its world (``World.build``), and every build parses the
package's ``configs/assets.yaml`` (textures, materials and meshes, 3 KB) with PyYAML's
pure-Python loader. Measured on SafetyPointGoal1-v0 without the skybox, on a loaded 2-core
machine: a reset took 22.7 ms, of which that parse took about 10; with the parse cached, 10.7-14.0
ms. The parsed table is plain data (dicts, lists, strings, numbers), so a deep copy of the first
parse of the same text is the same value a new parse returns, and the world's XML, model and
dynamics are unchanged (tests compare the XML strings).

The hook, as :mod:`shapo_rl.envs.skybox`'s: ``safety_gymnasium.world`` reaches PyYAML through its
module attribute ``yaml``; :func:`install_asset_table_cache` replaces that attribute, once, by a
stand-in that forwards everything to ``yaml`` except ``load``, which reads the file's text and
returns a deep copy of that text's cached parse (keyed by text and loader). safety-gymnasium
itself is not modified.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

import yaml

from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium

_LOCK = threading.Lock()


class CachedYaml:
    """The ``yaml`` module as ``safety_gymnasium.world`` sees it, with a memoised ``load``."""

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, type], Any] = {}
        self._lock = threading.Lock()

    def load(self, stream, Loader):  # noqa: N803 - PyYAML's own signature
        text = stream if isinstance(stream, str) else stream.read()
        key = (text, Loader)
        with self._lock:
            if key not in self._parsed:
                self._parsed[key] = yaml.load(text, Loader=Loader)  # noqa: S506 - the package's own file, as it loads it
            return copy.deepcopy(self._parsed[key])

    def __getattr__(self, name: str):
        return getattr(yaml, name)


def install_asset_table_cache() -> None:
    """Make ``safety_gymnasium.world`` parse each asset table text once (idempotent)."""
    world = import_safety_gymnasium().world
    with _LOCK:
        if not isinstance(world.yaml, CachedYaml):
            world.yaml = CachedYaml()
