"""SHAPO paper Fig. 7 (Sec. 6.1): SAM on the critics only, SHAPO on the actor only, and both, against vanilla.

"sam-critic" keeps the actor's plain gradient (geometry none) with SAM on both critics;
"shapo-actor" perturbs the actor with critic SAM off. The algorithms (TRPO-Lag, PID-Lag) and
tasks (PointGoal1, Walker2d-v4) are our choice.
"""

from recipes.common import SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe, Variant

SAM_CRITIC = Variant("sam-critic", ("shapo.critic_sam=true", "shapo.critic_sam_rho=0.05"))
SHAPO_ACTOR = Variant("shapo-actor", ("shapo.geometry=fisher", "shapo.radius=1e-5"))

RECIPE = Recipe(
    "actor-vs-critic",
    grids=(Grid("components", ("trpo-lag", "trpo-pid"), ("SafetyPointGoal1-v0", "Walker2d-v4"),
                (VANILLA, SAM_CRITIC, SHAPO_ACTOR, SHAPO)),),
    paper=PAPER_SHAPO,
)
