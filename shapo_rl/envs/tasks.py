"""The curated tasks and what every task is described by: families, default cost limits and
episode lengths, :class:`TaskSpec`, and the errors of resolving a task id.

A leaf module: the resolvers (``registry``, ``discovery``, ``custom``) import it, it imports none
of them.
"""

from __future__ import annotations

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
