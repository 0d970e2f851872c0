"""sTRPO paper App. D, Figs. 13-14: random-action attack sweeps (alpha 0, 0.1, ..., 1; 1000 episodes each) of the trained policies.

The runs are strpo-main's (shared when both recipes use one output folder) and FOCOPS, the eight
baselines of App. D. Episodes use the policy's mean action (our choice; the paper does not say).
"""

from recipes.common import STRPO_TASKS
from recipes.strpo_main import BASELINES, STRPO, UNSAFE
from shapo_rl.launch.recipe import PAPER_STRPO, Attack, Grid, Recipe

RECIPE = Recipe(
    "strpo-robustness",
    grids=(UNSAFE, STRPO, BASELINES, Grid("focops", ("focops",), STRPO_TASKS)),
    post=(Attack(rates="0:1:0.1", episodes=1000, grids=("strpo", "baselines", "focops")),),
    paper=PAPER_STRPO,
)
