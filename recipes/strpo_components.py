"""sTRPO paper App. C.4, Figs. 11-12: sTRPO without the joint advantage, and without the unsafe objective.

"no-joint-advantage" ascends z(A_r) alone (the cost advantage and the PID multiplier leave the
objective; the exclusion step stays). "no-unsafe-objective" sets phi = 0 and drops the exclusion
constraint with it: TRPO's step on the joint advantage. Both readings are ours; App. C.4 only
says the component is disabled.
"""

from recipes.common import STRPO_TASKS
from recipes.strpo_main import UNSAFE
from shapo_rl.launch.recipe import PAPER_STRPO, Grid, Needs, Recipe, Variant

COMPONENTS = (Variant("full"), Variant("no-joint-advantage", ("joint_advantage=false",)),
              Variant("no-unsafe-objective", ("unsafe_objective=false",)))

RECIPE = Recipe(
    "strpo-components",
    grids=(UNSAFE, Grid("strpo", ("strpo",), STRPO_TASKS, COMPONENTS, needs=Needs("unsafe", "unsafe_policy"))),
    paper=PAPER_STRPO,
)
