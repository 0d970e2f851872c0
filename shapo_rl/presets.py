"""Named sets of run settings (``--set preset=NAME``): another experiment's defaults in one key.

A preset changes defaults, not choices: each of its settings is applied where the run still has
the default value, so a flag or ``--set`` given before it keeps its value and one given after it
overrides the preset. The preset's name is recorded in config.yaml (``preset``) beside every
resolved value; reading a config back never re-applies it.

``shapo-authors``: the SHAPO authors' published code (a SafePO fork) for PID-Lag on
Safety-Gymnasium and MuJoCo tasks, where it differs from this library's defaults:
gymnasium's ``NormalizeObservation`` (no clip, no std floor, statistics starting at count 1e-4 with mean 0
and variance 1, sqrt(var + 1e-8)); 10 CG iterations for the perturbation's natural gradient;
0.1 eps0 when no backtrack of the perturbation fits the KL ball; PyTorch's default layer init
for the critics. SHAPO itself (``shapo.geometry=fisher``, radius 1e-5) and critic SAM stay
switches: their README runs the actor's perturbation without critic SAM.

The cost limit is the task's, not the preset's: their README's commands give ``--cost-limit 10``
on SafetyPointGoal1-v0 (``--cost-limit 10``), but an episode of a falls-as-cost task costs 0 or 1,
where a limit of 10 never binds; the paper's MuJoCo runs count any fall as a violation, which
is the falls tasks' own limit here (0.1).

Their rollout layout, 5 envs of 4,000 steps per 20,000-step epoch, is left to ``num_envs``
(``--set num_envs=5``): on 1,000-step tasks without early termination (SafetyPointGoal1-v0,
SafetyPointButton1-v0) both layouts collect the same 20 whole episodes per epoch, and 5 envs
collected 2.6x slower than the default 20 here (trpo-pid on SafetyPointGoal1-v0, 20k-step epochs:
about 20 s against 7.5 s per epoch on one 2-core machine). Where episodes end early (falls on
Walker2d-v4), theirs carry over between epochs and ours start each rollout from reset envs.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "shapo-authors": {
        "obs_clip": None,
        "obs_std_floor": 0.0,
        "obs_prior_count": 1e-4,
        "shapo.cg_iters": 10,
        "shapo.fallback": "tenth",
        "critic.init": "default",
    },
}
