"""The observation and action spaces the project supports: flat vectors in, bounded vectors out."""

from __future__ import annotations

import numpy as np

from shapo_rl.envs.tasks import UnsupportedTaskError

SUPPORTED = "supported: a 1-D Box observation and a 1-D Box action with finite bounds"


def check_spaces(name: str, observation_space, action_space) -> None:
    """Refuse, in one line, a task whose spaces the Gaussian MLP policy cannot serve.

    Vision (image) and other structured observations (Dict, Tuple, Discrete) and discrete or
    unbounded actions are out of scope.
    """
    obs_kind, act_kind = type(observation_space).__name__, type(action_space).__name__
    if obs_kind != "Box" or len(observation_space.shape) != 1:
        shape = getattr(observation_space, "shape", None)
        of_shape = f" of shape {tuple(shape)}" if shape is not None else ""
        raise UnsupportedTaskError(f"task {name!r} has a {obs_kind} observation space{of_shape} "
                                   f"(vision and other non-vector observations are not in scope); {SUPPORTED}")
    if act_kind != "Box" or len(action_space.shape) != 1:
        raise UnsupportedTaskError(f"task {name!r} has a {act_kind} action space (discrete actions are not "
                                   f"in scope); {SUPPORTED}")
    if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
        raise UnsupportedTaskError(f"task {name!r} has an unbounded action space; {SUPPORTED}")
