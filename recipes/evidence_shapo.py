"""Evidence at scale, SHAPO paper Fig. 3 on PID-Lag: vanilla against SHAPO at the authors' radius and at 1e-3, on Hopper-Velocity and PointGoal1.

The ``bench`` scale is the committed evidence in ``results/evidence-shapo``: 5 seeds of 2M steps
(100 epochs of 20,000 steps) per run, about 4.9 machine-hours on one 2-core workstation at the
release's measured speed, then 100 deterministic evaluation episodes of each final policy. Both
SHAPO variants perturb the actor in the Fisher geometry and the critics with SAM (rho 0.05, the
authors' value); ``shapo`` uses the authors' radius delta_p = 1e-5, ``shapo-r1e-3`` a radius
100x larger, where cos(g, g_shapo) (logged as ``shapo_cosine``) first falls measurably below 1.
Cost limit 25 on both tasks.
"""

from recipes.common import SHAPO, SHAPO_SETTINGS, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Evaluate, Grid, Recipe, Scale, Variant

LARGE_RADIUS = Variant("shapo-r1e-3", tuple(s.replace("shapo.radius=1e-5", "shapo.radius=1e-3") for s in SHAPO_SETTINGS))
TASKS = ("SafetyHopperVelocity-v1", "SafetyPointGoal1-v0")

RECIPE = Recipe(
    "evidence-shapo",
    grids=(Grid("pid-lag", ("trpo-pid",), TASKS, (VANILLA, SHAPO, LARGE_RADIUS), settings=("cost_limit=25",)),),
    post=(Evaluate(episodes=100),),
    paper=PAPER_SHAPO,
    bench=Scale("bench", steps=2_000_000, steps_per_epoch=20_000, seeds=(0, 1, 2, 3, 4)),
)
