"""SHAPO paper App. G, Fig. 13: PPO against PPO with SHAPO on Ant-v4, Walker2d-v4 and HalfCheetah-v4 (no constraint).

SHAPO per minibatch (Algorithm 4) with the constrained recipes' settings (radius 1e-5, critic
SAM 0.05): the paper gives no PPO-specific values, so they are our choice.
"""

from recipes.common import FALLS, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

RECIPE = Recipe(
    "unconstrained-ppo",
    grids=(Grid("ppo", ("ppo",), (*FALLS, "HalfCheetah-v4"), (VANILLA, SHAPO)),),
    paper=PAPER_SHAPO,
)
