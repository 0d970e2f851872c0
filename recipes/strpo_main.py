"""sTRPO paper Figs. 2-3: sTRPO against TRPO-Lag, CPO, PPO-Lag, CPPO-PID, RCPO, PCPO and CUP on four tasks.

sTRPO's unsafe policy is trained first per task and seed (DTRPO, the paper's main choice, App.
C.2), on the same budget. The paper gives the 15,000-step epoch but neither the budget, the seed
count, the cost limit nor DTRPO's CVaR level: about 1e7 steps, 5 seeds, the tasks' default limit
25 and the library's CVaR default are our choice. sTRPO runs with the paper's defaults delta_1 =
1e-2, delta_2 = 1e-4, lambda_2 = 1 (the registered ones).
"""

from recipes.common import STRPO_BASELINES, STRPO_TASKS
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe

UNSAFE = Grid("unsafe", ("unsafe-dtrpo",), STRPO_TASKS)
STRPO = Grid("strpo", ("strpo",), STRPO_TASKS, needs=Needs("unsafe", "unsafe_policy"))
BASELINES = Grid("baselines", STRPO_BASELINES, STRPO_TASKS)

RECIPE = Recipe("strpo-main", grids=(UNSAFE, STRPO, BASELINES), paper=PAPER_STRPO)
