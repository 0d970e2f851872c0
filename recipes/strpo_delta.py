"""sTRPO paper App. C.1, Figs. 5-6: one KL threshold delta in {1e-2, 1e-3, 1e-4} for both constraints, and decoupled (1e-2, 1e-4).

delta_1 is the trust region's ``trust_region.max_kl``, delta_2 the exclusion margin
``exclusion_margin`` (phi^T (theta - theta_k) >= delta_2, eq. 8); "decoupled" is the default pair.
"""

from recipes.common import STRPO_TASKS
from recipes.strpo_main import UNSAFE
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe, Variant

DELTAS = tuple(Variant(f"delta{d:g}", (f"trust_region.max_kl={d}", f"exclusion_margin={d}")) for d in (1e-2, 1e-3, 1e-4))
DECOUPLED = Variant("decoupled", ("trust_region.max_kl=0.01", "exclusion_margin=0.0001"))

RECIPE = Recipe(
    "strpo-delta",
    grids=(UNSAFE, Grid("strpo", ("strpo",), STRPO_TASKS, (*DELTAS, DECOUPLED), needs=Needs("unsafe", "unsafe_policy"))),
    paper=PAPER_STRPO,
)
