"""SHAPO paper Figs. 5-6: episodic-cost distributions and their 95th/99th percentiles on Ant-v4 and Walker2d-v4.

TRPO-Lag and PID-Lag, vanilla and with SHAPO; each trained policy is evaluated on 100 episodes
(the report's cost-distribution figure and percentile table).
"""

from recipes.common import FALLS, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Evaluate, Grid, Recipe

RECIPE = Recipe(
    "cost-tails",
    grids=(Grid("tails", ("trpo-lag", "trpo-pid"), FALLS, (VANILLA, SHAPO)),),
    post=(Evaluate(episodes=100),),
    paper=PAPER_SHAPO,
)
