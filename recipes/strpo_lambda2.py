"""sTRPO paper App. C.3, Figs. 9-10: the unsafe-objective weight lambda_2 in {0.01, 1.0}.

``exclusion_weight`` is lambda_2 as the library reads it (``shapo_rl.optim.exclusion_step``): the
least weight of phi in units of |g|_F^-1 / |phi|_F^-1, raised where the margin delta_2 needs
more. The paper's lambda_2 weighs the raw phi, so the same numbers are not the same steps.
"""

from recipes.common import STRPO_TASKS
from recipes.strpo_main import UNSAFE
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe, Variant

WEIGHTS = tuple(Variant(f"lambda2-{w:g}", (f"exclusion_weight={w}",)) for w in (0.01, 1.0))

RECIPE = Recipe(
    "strpo-lambda2",
    grids=(UNSAFE, Grid("strpo", ("strpo",), STRPO_TASKS, WEIGHTS, needs=Needs("unsafe", "unsafe_policy"))),
    paper=PAPER_STRPO,
)
