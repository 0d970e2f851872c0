"""The task registry: the single source of truth for task ids, cost limits and episode lengths."""

from __future__ import annotations

from dataclasses import dataclass

from shapo_rl.lookup import lookup

SAFETY_GYMNASIUM = "safety-gymnasium"
MUJOCO_FALLS = "mujoco-falls"
TOY = "toy"

# Falls-as-cost episodes cost 0 or 1, so any limit in [0, 1) asks for no fall at all;
# 0.1 leaves the Lagrangian a small positive slack instead of sitting exactly at 0.
FALLS_COST_LIMIT = 0.1


@dataclass(frozen=True)
class TaskSpec:
    """One registered task.

    Attributes:
        name: the task id, e.g. ``"SafetyPointGoal1-v0"``.
        family: ``"safety-gymnasium"``, ``"mujoco-falls"`` or ``"toy"``.
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
    """Raised for a task id that is not in :data:`TASKS`."""


def _safety(name: str, description: str, max_episode_steps: int = 1000) -> TaskSpec:
    return TaskSpec(name, SAFETY_GYMNASIUM, 25.0, max_episode_steps, description)


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
    """Return the registered :class:`TaskSpec` for ``name``.

    Raises:
        UnknownTaskError: ``name`` is not registered; the message suggests the nearest ids.
    """
    return lookup(TASKS, name, kind="task", error=UnknownTaskError)
