"""SHAPO paper App. E.2, Fig. 9: sensitivity to the actor radius delta_p and the critic SAM radius rho_c (TRPO-Lag).

delta_p spans the authors' search range 1e-6..1e-3 one decade apart; rho_c's four values around the
default 0.05, the algorithm (TRPO-Lag) and the task (PointGoal1) are our choice.
"""

from recipes.common import VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe, Variant

GRID = tuple(Variant(f"delta{d:g}-rho{rho:g}", ("shapo.geometry=fisher", f"shapo.radius={d}", "shapo.critic_sam=true",
                                                 f"shapo.critic_sam_rho={rho}"))
             for d in (1e-6, 1e-5, 1e-4, 1e-3) for rho in (0.01, 0.05, 0.1, 0.5))

RECIPE = Recipe(
    "sensitivity",
    grids=(Grid("sensitivity", ("trpo-lag",), ("SafetyPointGoal1-v0",), (VANILLA, *GRID)),),
    paper=PAPER_SHAPO,
)
