"""SHAPO paper Figs. 8, 10 and 12: a constant radius delta against a fixed pessimism percentile p (PID-Lag).

Training grid for Figs. 8 and 12; `recipe report` also draws Fig. 10 (the percentile a constant
delta implies, and the radius a fixed p implies, against the samples collected; Prop. 2). The
radii (1e-6, 1e-5, 1e-4), the percentiles (0.01, 0.05, 0.2) and the task (PointGoal1) are our
choice; N is the number of state-action pairs collected so far (App. F).
"""

from recipes.common import VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe, Variant
from shapo_rl.reporting.pessimism import pessimism_figure

SAM = ("shapo.critic_sam=true", "shapo.critic_sam_rho=0.05")
DELTAS = tuple(Variant(f"delta{d:g}", ("shapo.geometry=fisher", f"shapo.radius={d}", *SAM)) for d in (1e-6, 1e-5, 1e-4))
PERCENTILES = tuple(Variant(f"p{p:g}", ("shapo.geometry=fisher", "shapo.schedule=percentile",
                                        f"shapo.percentile={p}", *SAM)) for p in (0.01, 0.05, 0.2))

RECIPE = Recipe(
    "pessimism-schedule",
    grids=(Grid("schedule", ("trpo-pid",), ("SafetyPointGoal1-v0",), (VANILLA, *DELTAS, *PERCENTILES)),),
    paper=PAPER_SHAPO,
    figures=pessimism_figure,
)
