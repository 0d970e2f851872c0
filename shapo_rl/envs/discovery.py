"""Tasks that safety-gymnasium or gymnasium register, each given its family by who registers it.

* registered by safety-gymnasium (its own ids and their ``...Gymnasium-v0`` twins): the
  simulator's cost, default limit 25;
* a gymnasium MuJoCo task that terminates when unhealthy (Hopper, Walker2d, Ant, Humanoid, ...):
  falls as cost, limit :data:`FALLS_COST_LIMIT`;
* any other gymnasium task: no cost signal, cost is always 0.

Episode lengths come from the env's own spec. Resolving an id builds it once (no reset) to read
its spaces, which :func:`check_spaces` must accept.
"""

from __future__ import annotations

import functools
import warnings

from shapo_rl.envs.tasks import (
    DEFAULT_EPISODE_STEPS,
    FALLS_COST_LIMIT,
    GYMNASIUM,
    MUJOCO_FALLS,
    SAFETY_COST_LIMIT,
    SAFETY_GYMNASIUM,
    TASKS,
    TaskSpec,
    UnsupportedTaskError,
)
from shapo_rl.envs.asset_table import install_asset_table_cache
from shapo_rl.envs.safety_gymnasium_import import import_safety_gymnasium
from shapo_rl.envs.spaces import check_spaces

_DESCRIPTIONS = {
    SAFETY_GYMNASIUM: "Safety-Gymnasium task; the simulator's cost.",
    MUJOCO_FALLS: "Gymnasium MuJoCo; cost 1 on an unhealthy fall (termination), 0 otherwise.",
    GYMNASIUM: "Gymnasium task without a cost signal: cost is always 0.",
}
_COST_LIMITS = {SAFETY_GYMNASIUM: SAFETY_COST_LIMIT, MUJOCO_FALLS: FALLS_COST_LIMIT, GYMNASIUM: SAFETY_COST_LIMIT}


@functools.cache
def _safety_gymnasium_ids() -> frozenset[str]:
    import_safety_gymnasium()
    from safety_gymnasium.utils.registration import safe_registry

    return frozenset(safe_registry)


@functools.cache
def registered_ids() -> tuple[str, ...]:
    """Every id in gymnasium's registry once safety-gymnasium (and gymnasium-robotics) registered theirs."""
    _safety_gymnasium_ids()
    import gymnasium

    return tuple(gymnasium.envs.registry)


def make_registered(name: str, **kwargs):
    """``safety_gymnasium.make`` for safety-gymnasium's own ids (6-tuple steps), ``gymnasium.make``
    for the rest; ``kwargs`` go to the maker (``max_episode_steps``, ``render_mode``)."""
    import gymnasium

    if name in gymnasium.envs.registry and not name.startswith("Safety"):
        return gymnasium.make(name, **kwargs)  # no safety-gymnasium import needed
    if name in _safety_gymnasium_ids():
        install_asset_table_cache()  # its worlds parse their asset table at every build otherwise
        return import_safety_gymnasium().make(name, **kwargs)
    return gymnasium.make(name, **kwargs)


def _family(env) -> str:
    entry_point = env.spec.entry_point if env.spec is not None else None
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    if module.startswith("safety_gymnasium"):
        return SAFETY_GYMNASIUM
    if module.startswith("gymnasium.envs.mujoco") and getattr(env.unwrapped, "_terminate_when_unhealthy", False):
        return MUJOCO_FALLS
    return GYMNASIUM


@functools.cache
def resolve_registered(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of a registered id outside :data:`TASKS` (built once, then cached).

    Raises:
        UnsupportedTaskError: its spaces are out of scope, or it cannot be built here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = make_registered(name)
        except Exception as err:  # noqa: BLE001 - any failure of a third-party constructor
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UnsupportedTaskError(f"task {name!r} cannot be built here: {reason}") from None
    try:
        check_spaces(name, env.observation_space, env.action_space)
        family = _family(env)
        steps = (env.spec.max_episode_steps if env.spec is not None else None) or DEFAULT_EPISODE_STEPS
    finally:
        env.close()
    return TaskSpec(name, family, _COST_LIMITS[family], steps, _DESCRIPTIONS[family])


def resolvable_tasks() -> list[TaskSpec]:
    """The curated tasks, then every other registered id that resolves (sorted); builds each once."""
    specs = list(TASKS.values())
    for name in sorted(set(registered_ids()) - set(TASKS)):
        try:
            specs.append(resolve_registered(name))
        except UnsupportedTaskError:
            continue
    return specs
