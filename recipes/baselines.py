"""Every on-policy baseline with its defaults on the reference library's five benchmark tasks (its published 1e7-step table).

Constrained algorithms at cost limit 25 and the unconstrained TRPO and PPO as the ceiling, each
with the library's defaults; the report gives return, cost and total cost per algorithm. At paper
scale it is the reference library's own protocol (1e7 steps, 20,000-step epochs, cost limit 25);
its seeds are 0, 5, 10, 15, 20, ours 0-4.
"""

from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

ALGOS = ("trpo-lag", "ppo-lag", "trpo-pid", "cppo-pid", "cpo", "pcpo", "crpo", "rcpo", "cup", "focops",
         "trpo-saute", "ppo-saute", "trpo", "ppo")
TASKS = ("SafetyPointGoal1-v0", "SafetyPointButton1-v0", "SafetyCarGoal1-v0", "SafetyAntVelocity-v1",
         "SafetyHopperVelocity-v1")

RECIPE = Recipe("baselines", grids=(Grid("baselines", ALGOS, TASKS, settings=("cost_limit=25",)),), paper=PAPER_SHAPO)
