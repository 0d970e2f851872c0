"""Compile safety-gymnasium worlds without their skybox image when nothing renders.

safety-gymnasium rebuilds and recompiles its MuJoCo world at every reset of a builder task
(``World.build`` calls ``mujoco.MjModel.from_xml_string``). Nearly all of that compile time and
of the compiled model's memory (182 MiB for SafetyPointGoal1-v0) is one texture, the skybox:
six ``star_hd`` PNGs of 3259 x 19554 texels. Textures take no part in the physics, so a world
compiled with a tiny built-in skybox in its place steps identically; only rendered images
differ. Inside :func:`without_skybox`, ``World.build`` compiles its XML with that tiny skybox;
everywhere else (rendering, video) it compiles the real one.

The hook: ``safety_gymnasium.world`` reaches MuJoCo through its module attribute ``mujoco``;
:func:`without_skybox` installs, once, a stand-in for that attribute which forwards everything
to ``mujoco`` except ``MjModel.from_xml_string``, which swaps the skybox element while the
context is active. safety-gymnasium itself is not modified.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
from collections.abc import Iterator

import mujoco

from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium

# A 1 x 1 texel gradient cube: what MuJoCo needs for a skybox element, at no cost.
TINY_SKYBOX = '<texture type="skybox" builtin="gradient" rgb1="0.4 0.6 0.8" rgb2="0 0 0" width="1" height="1"/>'
_SKYBOX = re.compile(r'<texture\b(?=[^>]*\btype="skybox")[^>]*?(?:/>|>\s*</texture>)')

_ACTIVE: contextvars.ContextVar[bool] = contextvars.ContextVar("shapo_rl_without_skybox", default=False)
_INSTALL_LOCK = threading.Lock()


def replace_skybox(xml: str) -> str:
    """``xml`` with every skybox texture element replaced by :data:`TINY_SKYBOX`."""
    return _SKYBOX.sub(TINY_SKYBOX, xml)


class _ModelCompiler:
    """``mujoco.MjModel`` as ``World.build`` uses it: ``from_xml_string`` honours the context."""

    @staticmethod
    def from_xml_string(xml: str, *args, **kwargs) -> mujoco.MjModel:
        return mujoco.MjModel.from_xml_string(replace_skybox(xml) if _ACTIVE.get() else xml, *args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(mujoco.MjModel, name)


class _WorldMujoco:
    """The ``mujoco`` module as ``safety_gymnasium.world`` sees it, with :class:`_ModelCompiler`."""

    MjModel = _ModelCompiler()

    def __getattr__(self, name: str):
        return getattr(mujoco, name)


def _install() -> None:
    world = import_safety_gymnasium().world
    with _INSTALL_LOCK:
        if not isinstance(world.mujoco, _WorldMujoco):
            world.mujoco = _WorldMujoco()


@contextlib.contextmanager
def without_skybox() -> Iterator[None]:
    """Within this context (this thread), safety-gymnasium worlds compile with :data:`TINY_SKYBOX`."""
    _install()
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
