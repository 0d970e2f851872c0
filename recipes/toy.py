"""ToyCMDP-v0: vanilla against SHAPO TRPO-Lag in seconds; the recipe layer's own check (no paper figure)."""

from recipes.common import SHAPO, VANILLA
from shapo_rl.launch.recipe import Grid, Recipe, Scale

RECIPE = Recipe(
    "toy",
    grids=(Grid("toy", ("trpo-lag",), ("ToyCMDP-v0",), (VANILLA, SHAPO), settings=("critic.update_iters=1",)),),
    paper=Scale("paper", steps=100_000, steps_per_epoch=2000, seeds=(0, 1, 2)),
    smoke=Scale("smoke", steps=1000, steps_per_epoch=200, seeds=(0,)),
)
