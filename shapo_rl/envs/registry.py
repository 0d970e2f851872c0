"""Resolving a task id to its :class:`TaskSpec`.

The curated tasks keep their entries in ``shapo_rl.envs.tasks``; :func:`get_task` also resolves
any other id that safety-gymnasium or gymnasium registers (``shapo_rl.envs.discovery``) and a
user's own CMDP named ``module:callable`` (``shapo_rl.envs.custom``).
"""

from __future__ import annotations

import difflib

from shapo_rl.envs.custom import resolve_custom
from shapo_rl.envs.discovery import registered_ids, resolve_registered
from shapo_rl.envs.tasks import TASKS, TaskSpec, UnknownTaskError


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``name``: a curated task, a ``module:callable`` of the user's, or
    any id that safety-gymnasium or gymnasium registers.

    Raises:
        UnknownTaskError: nobody registers ``name``; the message suggests the nearest ids.
        UnsupportedTaskError: ``name`` has spaces out of scope or cannot be built here.
        EnvContractError: a ``module:callable`` env breaks the contract.
    """
    if name in TASKS:
        return TASKS[name]
    if ":" in name:
        return resolve_custom(name)
    if name in registered_ids():
        return resolve_registered(name)
    near = difflib.get_close_matches(name, list(dict.fromkeys([*TASKS, *registered_ids()])), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise UnknownTaskError(f"unknown task {name!r}{hint} (`shapo-rl list envs --all` lists every task)")
