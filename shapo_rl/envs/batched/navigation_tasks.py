"""What differs between safety-gymnasium's navigation tasks in one step, for ``k`` envs at once.

A :class:`Rules` object per task (Goal, Button, Push, Circle) computes that task's reward and
whether its goal was met (``calculate_reward`` and ``goal_achieved`` of ``GoalLevel0``,
``ButtonLevel0``, ``PushLevel0``, ``CircleLevel0``), its ``specific_step`` and the lidars its
``obs`` blanks; :func:`constraint_violations` computes the obstacles' ``cal_cost`` terms
(hazards, gremlins, pillars, buttons, sigwalls). They read a :class:`StepView`: the arrays the
slice gathered from each env's MuJoCo data after the physics, and the stock task objects, whose
per-episode bookkeeping (``last_dist_goal``, ``buttons.timer``, ...) they read and write back
exactly as the stock methods do.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from shapo_rl.envs.batched.navigation_maths import distance

# The contact costs this module reproduces: obstacle name -> prefix of its geoms' names.
CONTACT_PREFIXES = {"gremlins": "gremlin", "pillars": "pillar", "buttons": "button"}
# Obstacles whose cost this module reproduces (when constrained).
CONSTRAINED = ("hazards", "sigwalls", *CONTACT_PREFIXES)


@dataclass
class Contacts:
    """The contacts of ``k`` envs: contact ``c`` of env ``env[c]`` touches geoms ``geom1[c]`` and
    ``geom2[c]``; ``tables[name]`` ``[k, ngeom]`` holds, per env, a property of every geom."""

    env: np.ndarray
    geom1: np.ndarray
    geom2: np.ndarray
    tables: dict[str, np.ndarray]

    def either(self, name: str) -> np.ndarray:
        """Per contact: whether one of its geoms has the (boolean) property ``name``."""
        table = self.tables[name]
        return table[self.env, self.geom1] | table[self.env, self.geom2]

    def on_goal_button(self, tasks: list) -> np.ndarray:
        """Per contact: whether one of its geoms is named ``button{goal_button}`` of its env's task."""
        goal_button = _attribute(tasks, "buttons.goal_button")[self.env]
        index = self.tables["button_index"]
        return (index[self.env, self.geom1] == goal_button) | (index[self.env, self.geom2] == goal_button)

    def any_per_env(self, mask: np.ndarray, k: int) -> np.ndarray:
        """Per env: whether one of its contacts is in ``mask``."""
        return np.bincount(self.env[mask], minlength=k)[:k] > 0


@dataclass
class StepView:
    """One step of ``k`` envs: stock ``tasks``, agent position ``[k, 3]`` and rotation matrix
    ``[k, 3, 3]``, body positions ``[k, n, 3]`` per obstacle name, contacts (or None) and agent
    velocity ``[k, 3]`` (or None)."""

    tasks: list
    agent_pos: np.ndarray
    agent_mat: np.ndarray
    bodies: dict[str, np.ndarray]
    contacts: Contacts | None
    agent_vel: np.ndarray | None


def _attribute(tasks: list, path: str) -> np.ndarray:
    """Each task's attribute ``path`` (dotted), as an array."""
    return np.array(list(map(attrgetter(path), tasks)))


def _write_back(tasks: list, name: str, values: np.ndarray) -> None:
    for task, value in zip(tasks, values):
        setattr(task, name, value)


class Rules:
    """A task's reward, goal, ``specific_step`` and blanked lidars; the defaults do nothing."""

    needs_contacts = False
    needs_velocity = False
    bodies: tuple[str, ...] = ()

    def reward(self, view: StepView) -> tuple[np.ndarray, np.ndarray]:
        """Rewards ``[k]`` (``calculate_reward``) and goals met ``[k]`` (``goal_achieved``)."""
        raise NotImplementedError

    def specific_step(self, view: StepView) -> None:
        """``task.specific_step()``, after the cost and before the goal is processed."""

    def blanked_lidars(self, tasks: list) -> dict[str, np.ndarray]:
        """Lidar observations that ``obs()`` sets to zeros: name -> envs ``[k]`` (after goals)."""
        return {}


class GoalRules(Rules):
    """``GoalLevel0``: the dense reward for closing on the goal, ``reward_goal`` within ``goal.size``."""

    bodies = ("goal",)

    def __init__(self, task) -> None:
        self.reward_distance = task.goal.reward_distance
        self.reward_goal = task.goal.reward_goal
        self.size = task.goal.size

    def reward(self, view: StepView) -> tuple[np.ndarray, np.ndarray]:
        dist_goal = distance(view.bodies["goal"][:, 0, :2], view.agent_pos[:, :2])
        reward = 0.0 + (_attribute(view.tasks, "last_dist_goal") - dist_goal) * self.reward_distance
        _write_back(view.tasks, "last_dist_goal", dist_goal)
        achieved = dist_goal <= self.size
        return np.where(achieved, reward + self.reward_goal, reward), achieved


class ButtonRules(Rules):
    """``ButtonLevel0``: the dense reward for closing on the goal button, ``reward_goal`` when an
    agent geom touches it; the timer ticks each step and blanks ``buttons_lidar`` while not 0."""

    bodies = ("goal",)
    needs_contacts = True

    def __init__(self, task) -> None:
        self.reward_distance = task.buttons.reward_distance
        self.reward_goal = task.buttons.reward_goal

    def reward(self, view: StepView) -> tuple[np.ndarray, np.ndarray]:
        k = len(view.tasks)
        dist_goal = distance(view.bodies["goal"][:, 0, :2], view.agent_pos[:, :2])
        reward = 0.0 + (_attribute(view.tasks, "last_dist_goal") - dist_goal) * self.reward_distance
        _write_back(view.tasks, "last_dist_goal", dist_goal)
        contacts = view.contacts
        achieved = contacts.any_per_env(contacts.on_goal_button(view.tasks) & contacts.either("agent"), k)
        return np.where(achieved, reward + self.reward_goal, reward), achieved

    def specific_step(self, view: StepView) -> None:
        for task in view.tasks:
            task.buttons.timer_tick()

    def blanked_lidars(self, tasks: list) -> dict[str, np.ndarray]:
        return {"buttons_lidar": _attribute(tasks, "buttons.timer") != 0}


class PushRules(Rules):
    """``PushLevel0``: dense rewards for the agent closing on the box (gated by ``null_dist``)
    and the box closing on the goal (3D distances), ``reward_goal`` with the box within ``goal.size``."""

    bodies = ("goal", "push_box")

    def __init__(self, task) -> None:
        box = task.push_box
        self.gate = box.null_dist * box.size
        self.reward_box_dist = box.reward_box_dist
        self.reward_box_goal = box.reward_box_goal
        self.reward_goal = task.goal.reward_goal
        self.size = task.goal.size

    def reward(self, view: StepView) -> tuple[np.ndarray, np.ndarray]:
        box, goal = view.bodies["push_box"][:, 0], view.bodies["goal"][:, 0]
        dist_box = distance(box, view.agent_pos)
        last_dist_box = _attribute(view.tasks, "last_dist_box")
        gate = (last_dist_box > self.gate).astype(np.float64)
        reward = 0.0 + (last_dist_box - dist_box) * self.reward_box_dist * gate
        _write_back(view.tasks, "last_dist_box", dist_box)
        dist_box_goal = distance(box, goal)
        reward = reward + (_attribute(view.tasks, "last_box_goal") - dist_box_goal) * self.reward_box_goal
        _write_back(view.tasks, "last_box_goal", dist_box_goal)
        achieved = dist_box_goal <= self.size
        return np.where(achieved, reward + self.reward_goal, reward), achieved


class CircleRules(Rules):
    """``CircleLevel0``: ``((-u y + v x) / r) / (1 + |r - radius|) * reward_factor`` from the
    agent's position and Cartesian velocity; no goal."""

    needs_velocity = True

    def __init__(self, task) -> None:
        self.radius = task.circle.radius
        self.reward_factor = task.reward_factor

    def reward(self, view: StepView) -> tuple[np.ndarray, np.ndarray]:
        x, y = view.agent_pos[:, 0], view.agent_pos[:, 1]
        u, v = view.agent_vel[:, 0], view.agent_vel[:, 1]
        # x**2 of a numpy scalar is C's pow(x, 2.0), not x * x (they differ in the last bit for
        # about 1 in 1,200 values); np.power of an array calls the same pow.
        radius = np.sqrt(np.power(x, 2.0) + np.power(y, 2.0))
        reward = 0.0 + (((-u * y + v * x) / radius) / (1 + np.abs(radius - self.radius))) * self.reward_factor
        return reward, np.zeros(len(view.tasks), dtype=bool)


def constraint_violations(view: StepView) -> np.ndarray:
    """Whether each env's step has a cost: the stock ``cost_sum`` under ``constrain_indicator``.

    ``Builder._cost`` turns ``calculate_cost``'s sum of the constrained obstacles' ``cal_cost``
    terms into ``float(sum > 0)``. Every term is a sum of non-negative parts (a positive cost
    per contact or per hazard overlap), so the sum is positive exactly where one part is:
    hazards where ``cost * (size - dist_xy) > 0`` with ``dist_xy <= size``; gremlins and pillars
    where a contact joins an agent geom and one named ``gremlin*`` / ``pillar*``; buttons (only
    while the timer is 0) where it joins an agent geom and a ``button*`` other than the goal
    button; sigwalls where ``|x|`` (and, with 4 walls, ``|y|``) exceeds ``locate_factor``.
    """
    tasks = view.tasks
    k = len(tasks)
    violated = np.zeros(k, dtype=bool)
    for obstacle in tasks[0]._obstacles:  # noqa: SLF001 - the task's own obstacle list
        if not obstacle.is_constrained:
            continue
        if obstacle.name == "hazards":
            dist = distance(view.bodies["hazards"][..., :2], view.agent_pos[:, None, :2])
            parts = np.where(dist <= obstacle.size, obstacle.cost * (obstacle.size - dist), 0.0)
            violated |= np.any(parts > 0, axis=1)
        elif obstacle.name in ("gremlins", "pillars"):
            contacts = view.contacts
            hit = contacts.either(obstacle.name) & contacts.either("agent")
            violated |= contacts.any_per_env(hit, k)
        elif obstacle.name == "buttons":
            contacts = view.contacts
            wrong = contacts.either("buttons") & contacts.either("agent") & ~contacts.on_goal_button(tasks)
            active = _attribute(tasks, "buttons.timer") == 0
            violated |= contacts.any_per_env(wrong, k) & active
        elif obstacle.name == "sigwalls":
            out = np.abs(view.agent_pos[:, 0]) > obstacle.locate_factor
            if obstacle.num == 4:
                out |= np.abs(view.agent_pos[:, 1]) > obstacle.locate_factor
            violated |= out
        else:
            raise NotImplementedError(f"no batched cost for {obstacle.name}")
    return violated
