"""SHAPO paper Fig. 3 and App. Figs. 14-17: CPO, PID-Lag, CRPO, Saute-TRPO and TRPO-Lag, each vanilla and with SHAPO.

Return against cost rate (Safety Gym) and total cost (MuJoCo falls) at the end of training, and
the learning curves. Saute is not run on MuJoCo, whose cost limit 0 leaves it no budget.
"""

from recipes.common import FALLS, SAFETY_GYM, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

RECIPE = Recipe(
    "shapo-main",
    grids=(
        Grid("safety-gym", ("cpo", "trpo-pid", "crpo", "trpo-saute", "trpo-lag"), SAFETY_GYM, (VANILLA, SHAPO)),
        Grid("mujoco", ("cpo", "trpo-pid", "crpo", "trpo-lag"), FALLS, (VANILLA, SHAPO)),
    ),
    paper=PAPER_SHAPO,
)
