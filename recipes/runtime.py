"""SHAPO paper App. E.3, Table 1: wall-clock and update time of TRPO-Lag, vanilla and with SHAPO, on PointGoal1.

The report's runtime table (epoch time summed, update time per epoch, collection speed). The
paper times 10M steps on PointGoal1 without naming the algorithm: TRPO-Lag is our choice. Its
collection ran vectorised envs (5 in the authors' code); here the default env count, so wall
clock compares between the two arms, not with the paper's minutes.
"""

from recipes.common import SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

RECIPE = Recipe(
    "runtime",
    grids=(Grid("runtime", ("trpo-lag",), ("SafetyPointGoal1-v0",), (VANILLA, SHAPO)),),
    paper=PAPER_SHAPO,
)
