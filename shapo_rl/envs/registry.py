"""The task registry: task ids to cost limits, episode lengths and families.

Ten curated tasks keep their entries here; :func:`get_task` also resolves any other id that
safety-gymnasium or gymnasium registers (``shapo_rl.envs.discovery``) and a user's own CMDP
named ``module:callable`` (``shapo_rl.envs.custom``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

SAFETY_GYMNASIUM = "safety-gymnasium"
MUJOCO_FALLS = "mujoco-falls"
GYMNASIUM = "gymnasium"  # a registered gymnasium task without a cost signal: cost is always 0
CUSTOM = "custom"
TOY = "toy"

# safety-gymnasium's usual per-episode budget (the papers' d = 25); also the default of the
# tasks that report their own cost (a user's CMDP) and of those that report none.
SAFETY_COST_LIMIT = 25.0
# The episode length of a task whose spec gives no time limit.
DEFAULT_EPISODE_STEPS = 1000

# Falls-as-cost episodes cost 0 or 1, so any limit in [0, 1) asks for no fall at all;
# 0.1 leaves the Lagrangian a small positive slack instead of sitting exactly at 0.
FALLS_COST_LIMIT = 0.1


@dataclass(frozen=True)
class TaskSpec:
    """One registered task.

    Attributes:
        name: the task id, e.g. ``"SafetyPointGoal1-v0"``.
        family: ``"safety-gymnasium"``, ``"mujoco-falls"``, ``"gymnasium"`` (no cost),
            ``"custom"`` (``module:callable``) or ``"toy"``.
        cost_limit: default per-episode cost budget ``d``.
        max_episode_steps: time limit, after which an episode is truncated (not terminated).
        description: one line for ``list envs``.
    """

    name: str
    family: str
    cost_limit: float
    max_episode_steps: int
    description: str


class UnknownTaskError(ValueError):
    """Raised for a task id that neither :data:`TASKS` nor safety-gymnasium/gymnasium know."""


class UnsupportedTaskError(ValueError):
    """Raised for a task whose spaces are out of scope (vision, discrete actions) or that cannot
    be built here."""


class EnvContractError(ValueError):
    """Raised for a user's ``module:callable`` env that breaks the contract (which part, in one line)."""


def _safety(name: str, description: str, max_episode_steps: int = 1000) -> TaskSpec:
    return TaskSpec(name, SAFETY_GYMNASIUM, SAFETY_COST_LIMIT, max_episode_steps, description)


def _falls(name: str, description: str) -> TaskSpec:
    return TaskSpec(name, MUJOCO_FALLS, FALLS_COST_LIMIT, 1000, description)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _safety("SafetyPointGoal1-v0", "Point robot reaches goals; cost for hazards and vases."),
        _safety("SafetyPointButton1-v0", "Point robot presses the goal button; cost for hazards, gremlins, wrong buttons."),
        _safety("SafetyCarGoal1-v0", "Car robot reaches goals; cost for hazards and vases."),
        _safety("SafetyCarCircle1-v0", "Car robot circles inside the boundaries; cost outside them.", 500),
        _safety("SafetyAntVelocity-v1", "Ant runs forward; cost when faster than the velocity threshold."),
        _safety("SafetyHopperVelocity-v1", "Hopper runs forward; cost when faster than the velocity threshold."),
        _falls("Ant-v4", "MuJoCo Ant; cost 1 on an unhealthy fall (termination), 0 otherwise."),
        _falls("Walker2d-v4", "MuJoCo Walker2d; cost 1 on an unhealthy fall (termination), 0 otherwise."),
        _falls("HalfCheetah-v4", "MuJoCo HalfCheetah; never falls, so cost is always 0 (control case)."),
        TaskSpec("ToyCMDP-v0", TOY, 20.0, 20, "Tiny native CMDP with a closed-form optimum (return 20, cost 20)."),
    )
}


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
        from shapo_rl.envs.custom import resolve_custom

        return resolve_custom(name)
    from shapo_rl.envs.discovery import registered_ids, resolve_registered

    if name in registered_ids():
        return resolve_registered(name)
    near = difflib.get_close_matches(name, list(dict.fromkeys([*TASKS, *registered_ids()])), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise UnknownTaskError(f"unknown task {name!r}{hint} (`shapo-rl list envs --all` lists every task)")
