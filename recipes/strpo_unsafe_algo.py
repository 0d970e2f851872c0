"""sTRPO paper App. C.2, Figs. 7-8: the unsafe policy trained by TRPO or by distributional TRPO (DTRPO)."""

from recipes.common import STRPO_TASKS
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe, Variant

RECIPE = Recipe(
    "strpo-unsafe-algo",
    grids=(
        Grid("unsafe", ("unsafe-trpo", "unsafe-dtrpo"), STRPO_TASKS),
        Grid("strpo-trpo", ("strpo",), STRPO_TASKS, (Variant("trpo-unsafe"),),
             needs=Needs("unsafe", "unsafe_policy", algo="unsafe-trpo")),
        Grid("strpo-dtrpo", ("strpo",), STRPO_TASKS, (Variant("dtrpo-unsafe"),),
             needs=Needs("unsafe", "unsafe_policy", algo="unsafe-dtrpo")),
    ),
    paper=PAPER_STRPO,
)
