"""SHAPO paper Fig. 5: PID-Lag vanilla and with SHAPO for several initial multipliers lambda_0 (Pareto frontiers).

The lambda_0 values (the PID-Lag default 0.001 up to 1) and the task (PointGoal1) are our choice.
"""

from recipes.common import SHAPO, VANILLA, crossed
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe, Variant

INITS = tuple(Variant(f"lambda{init:g}", (f"pid.init={init}",)) for init in (0.001, 0.01, 0.1, 1.0))

RECIPE = Recipe(
    "pidlag-lambda-init",
    grids=(Grid("lambda-init", ("trpo-pid",), ("SafetyPointGoal1-v0",), crossed(INITS, (VANILLA, SHAPO))),),
    paper=PAPER_SHAPO,
)
