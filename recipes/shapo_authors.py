"""SHAPO at its authors' settings: PID-Lag (``trpo-pid``) with ``--set preset=shapo-authors``
(gymnasium's observation normaliser, the perturbation's 10 CG iterations and 0.1
fallback, PyTorch-default critics), vanilla against actor-only SHAPO at delta_p = 1e-5 (the
command of the authors' README, critic SAM off) and against SHAPO with critic SAM rho 0.05.

Tasks: SafetyPointGoal1-v0 at cost limit 10 (the authors' README) and Walker2d-v4 (a fall costs 1
and ends the episode) at its falls limit 0.1 (any fall a violation, as the paper's MuJoCo runs;
10 would never bind), two of the authors' four. The
``bench`` scale is the committed evidence in ``results/shapo-authors``, sized to about 14
machine-hours of one 2-core workstation at the measured speed (about 4,000 env steps/s on
PointGoal1 with both cores): vanilla and actor SHAPO on PointGoal1 for the paper's 10M steps,
the critic-SAM arm there for 2M, and the three arms on Walker2d-v4 for 3M; 5 seeds each, then
100 deterministic evaluation episodes of each final policy. The ``paper`` scale runs every
arm for 10M steps.
"""

from recipes.common import VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Evaluate, Grid, Recipe, Scale, Variant

PRESET = ("preset=shapo-authors",)
POINTGOAL = (*PRESET, "cost_limit=10")  # their README's command; Walker2d-v4 keeps its falls limit (0.1)
ACTOR_SHAPO = Variant("shapo", ("shapo.geometry=fisher", "shapo.radius=1e-5"))
SHAPO_SAM = Variant("shapo-sam", (*ACTOR_SHAPO.settings, "shapo.critic_sam=true", "shapo.critic_sam_rho=0.05"))

RECIPE = Recipe(
    "shapo-authors",
    grids=(
        Grid("walker", ("trpo-pid",), ("Walker2d-v4",), (VANILLA, ACTOR_SHAPO, SHAPO_SAM), settings=PRESET,
             budgets=(("bench", 3_000_000),)),
        Grid("pointgoal-sam", ("trpo-pid",), ("SafetyPointGoal1-v0",), (SHAPO_SAM,), settings=POINTGOAL,
             budgets=(("bench", 2_000_000),)),
        Grid("pointgoal", ("trpo-pid",), ("SafetyPointGoal1-v0",), (VANILLA, ACTOR_SHAPO), settings=POINTGOAL),
    ),
    post=(Evaluate(episodes=100),),
    paper=PAPER_SHAPO,
    bench=Scale("bench", steps=10_000_000, steps_per_epoch=20_000, seeds=(0, 1, 2, 3, 4)),
)
