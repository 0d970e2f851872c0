"""SHAPO paper Fig. 7 (Sec. 6.1): Fisher (SHAPO) against Euclidean (E-SAM) actor perturbations, both with critic SAM.

E-SAM's radius is an L2 norm in parameter space (eps = rho g / ||g||); 0.01 is our choice, as
are the algorithms (TRPO-Lag, PID-Lag) and tasks (PointGoal1, PointButton1).
"""

from recipes.common import SAFETY_GYM, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe, Variant

E_SAM = Variant("e-sam", ("shapo.geometry=euclidean", "shapo.radius=0.01", "shapo.critic_sam=true",
                          "shapo.critic_sam_rho=0.05"))

RECIPE = Recipe(
    "fisher-vs-euclidean",
    grids=(Grid("geometry", ("trpo-lag", "trpo-pid"), SAFETY_GYM, (VANILLA, SHAPO, E_SAM)),),
    paper=PAPER_SHAPO,
)
