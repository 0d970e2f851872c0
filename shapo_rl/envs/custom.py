"""A user's own CMDP, named ``module:callable`` on the command line.

The module is imported from the installed packages, ``PYTHONPATH`` or the current directory.
The callable takes no arguments and returns a gymnasium-style env: ``reset(seed=...)`` gives
``(obs, info)``; ``step(action)`` gives either ``(obs, reward, terminated, truncated, info)``
with the step's cost in ``info["cost"]``, or safety-gymnasium's 6-tuple
``(obs, reward, cost, terminated, truncated, info)``. Spaces: a 1-D Box observation and a 1-D
Box action with finite bounds. The episode length is the env spec's ``max_episode_steps``
(:data:`DEFAULT_EPISODE_STEPS` without one), the default cost limit 25 (``--cost-limit``
overrides it). Resolving the name imports the module, builds one env and takes one step to
check that contract; each breach is one line naming what is missing. :class:`CustomEnv` is
what the simulator batch then steps.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from numbers import Real

import numpy as np

from shapo_rl.envs.tasks import (
    CUSTOM,
    DEFAULT_EPISODE_STEPS,
    SAFETY_COST_LIMIT,
    EnvContractError,
    TaskSpec,
    UnknownTaskError,
)
from shapo_rl.envs.spaces import check_spaces


def load_factory(name: str):
    """The callable that ``name`` (``package.module:callable``) names.

    Raises:
        UnknownTaskError: the module cannot be imported or has no such callable.
    """
    module_name, _, attribute = name.partition(":")
    if not module_name or not attribute:
        raise UnknownTaskError(f"task {name!r}: a user env is named package.module:callable")
    if os.getcwd() not in sys.path and "" not in sys.path:  # as `python -m` would find it
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UnknownTaskError(f"task {name!r}: cannot import module {module_name!r} ({err})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise UnknownTaskError(f"task {name!r}: module {module_name!r} has no callable {attribute!r}")
    return factory


def split_step(name: str, out) -> tuple:
    """``(obs, reward, cost, terminated, truncated)`` of one ``step`` result of a user env.

    Raises:
        EnvContractError: ``out`` is neither a 6-tuple nor a 5-tuple whose info holds ``"cost"``.
    """
    if not isinstance(out, tuple) or len(out) not in (5, 6):
        raise EnvContractError(f"task {name!r}: step() must return (obs, reward, terminated, truncated, info) "
                               f"or (obs, reward, cost, terminated, truncated, info), got {type(out).__name__}"
                               f"{f' of {len(out)}' if isinstance(out, tuple) else ''}")
    if len(out) == 6:
        obs, reward, cost, terminated, truncated, _ = out
    else:
        obs, reward, terminated, truncated, info = out
        if not isinstance(info, dict) or "cost" not in info:
            raise EnvContractError(f"task {name!r}: step() returned 5 values but no info['cost']; report the step's "
                                   "cost there or return (obs, reward, cost, terminated, truncated, info)")
        cost = info["cost"]
    if not isinstance(cost, (Real, np.ndarray)) or np.size(cost) != 1:
        raise EnvContractError(f"task {name!r}: the step's cost must be one number, got {cost!r}")
    return obs, reward, cost, terminated, truncated


@functools.cache
def resolve_custom(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of a user env, its contract checked on one built env (cached).

    Raises:
        UnknownTaskError, EnvContractError, UnsupportedTaskError: see the module docstring.
    """
    env = load_factory(name)()
    try:
        missing = [a for a in ("reset", "step", "observation_space", "action_space") if not hasattr(env, a)]
        if missing:
            raise EnvContractError(f"task {name!r}: the env has no {', '.join(missing)} (a gymnasium env is expected)")
        check_spaces(name, env.observation_space, env.action_space)
        reset = env.reset(seed=0)
        if not (isinstance(reset, tuple) and len(reset) == 2):
            raise EnvContractError(f"task {name!r}: reset(seed=...) must return (obs, info)")
        obs = np.asarray(reset[0])
        if obs.shape != env.observation_space.shape:
            raise EnvContractError(f"task {name!r}: reset() gave an observation of shape {obs.shape}, "
                                   f"its observation_space says {env.observation_space.shape}")
        space = env.action_space
        split_step(name, env.step(((space.low + space.high) / 2).astype(space.dtype)))
        spec = getattr(env, "spec", None)
        steps = getattr(spec, "max_episode_steps", None) or DEFAULT_EPISODE_STEPS
    finally:
        if hasattr(env, "close"):
            env.close()
    return TaskSpec(name, CUSTOM, SAFETY_COST_LIMIT, steps, f"User CMDP from {name}; the cost its step reports.")


class CustomEnv:
    """A user env as the simulator batch steps it: 6-tuple steps, truncated after
    ``max_episode_steps`` steps (the env may end its episodes earlier itself)."""

    def __init__(self, name: str, max_episode_steps: int):
        self.name = name
        self.env = load_factory(name)()
        self.max_episode_steps = max_episode_steps
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.unwrapped = getattr(self.env, "unwrapped", self.env)
        self._steps = 0

    def reset(self, *, seed: int | None = None):
        self._steps = 0
        return self.env.reset(seed=seed)

    def step(self, action: np.ndarray):
        obs, reward, cost, terminated, truncated = split_step(self.name, self.env.step(action))
        self._steps += 1
        return obs, reward, float(cost), terminated, truncated or self._steps >= self.max_episode_steps, {}

    def close(self) -> None:
        if hasattr(self.env, "close"):
            self.env.close()
