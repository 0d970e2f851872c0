"""SHAPO paper Fig. 5 (Sec. 6): episodic-cost distributions and their 95th/99th percentiles on Ant-v4 and Walker2d-v4.

The paper's text cites Fig. 5 both for these distributions and for pidlag-lambda-init's
frontiers. The algorithms (TRPO-Lag, PID-Lag, vanilla and with SHAPO) are our choice, as is
drawing the distribution from 100 evaluation episodes of each trained policy (the report's
cost-distribution figure and its 90/95/99th-percentile table). A falls episode costs 0 or 1.
"""

from recipes.common import FALLS, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Evaluate, Grid, Recipe

RECIPE = Recipe(
    "cost-tails",
    grids=(Grid("tails", ("trpo-lag", "trpo-pid"), FALLS, (VANILLA, SHAPO)),),
    post=(Evaluate(episodes=100),),
    paper=PAPER_SHAPO,
)
