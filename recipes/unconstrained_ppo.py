"""SHAPO paper App. G, Fig. 13: PPO against PPO with SHAPO on Ant-v4, Walker2d-v4 and HalfCheetah-v4 (no constraint)."""

from recipes.common import FALLS, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

RECIPE = Recipe(
    "unconstrained-ppo",
    grids=(Grid("ppo", ("ppo",), (*FALLS, "HalfCheetah-v4"), (VANILLA, SHAPO)),),
    paper=PAPER_SHAPO,
)
