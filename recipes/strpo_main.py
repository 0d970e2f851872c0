"""sTRPO paper Figs. 2-3: sTRPO against TRPO-Lag, CPO, PPO-Lag, CPPO-PID, RCPO, PCPO and CUP on four tasks.

sTRPO's unsafe policy is trained first per task and seed (DTRPO, the paper's main choice).
"""

from recipes.common import STRPO_BASELINES, STRPO_TASKS
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe

UNSAFE = Grid("unsafe", ("unsafe-dtrpo",), STRPO_TASKS)
STRPO = Grid("strpo", ("strpo",), STRPO_TASKS, needs=Needs("unsafe", "unsafe_policy"))
BASELINES = Grid("baselines", STRPO_BASELINES, STRPO_TASKS)

RECIPE = Recipe("strpo-main", grids=(UNSAFE, STRPO, BASELINES), paper=PAPER_STRPO)
