"""SHAPO paper Fig. 3 and App. Figs. 14-17: CPO, PID-Lag, CRPO, Saute-TRPO and TRPO-Lag, each vanilla and with SHAPO.

Return against cost rate (Safety Gym) and total cost (MuJoCo falls) at the end of training, and
the learning curves. Fig. 3 shows four baselines (CPO, PID-Lag, CRPO, Saute); TRPO-Lag, the
algorithm Section 4 builds SHAPO on, is added. Saute is not run on MuJoCo, as in the paper,
which calls it inapplicable there because its MuJoCo cost limit is 0 (any fall violates); here
the falls tasks default to d = 0.1 (a mean of at most 0.1 falls per episode), but a fall ends
the episode, so the remaining-budget state would carry no cost information before the end.
Cost limits: the task defaults, 25 on Safety Gym (our choice, the usual benchmark budget; the
authors' code uses 10: ``--set cost_limit=10``) and 0.1 on the falls tasks. Saute on
PointGoal1 uses the reference library's tuned navigation values (saute_gamma 0.9999,
unsafe_reward -0.2); it has none for PointButton1, which keeps the defaults. CRPO on the falls
tasks takes its cost step whenever Jc > d (tolerance 0, our choice): the reference tolerance 2.0
exceeds the largest episode cost there (1), so CRPO would never take a cost step.
"""

from recipes.common import FALLS, SAFETY_GYM, SHAPO, VANILLA
from shapo_rl.launch.recipe import PAPER_SHAPO, Grid, Recipe

ARMS = (VANILLA, SHAPO)

RECIPE = Recipe(
    "shapo-main",
    grids=(
        Grid("safety-gym", ("cpo", "trpo-pid", "crpo", "trpo-lag"), SAFETY_GYM, ARMS),
        Grid("saute-goal", ("trpo-saute",), ("SafetyPointGoal1-v0",), ARMS,
             settings=("saute_gamma=0.9999", "unsafe_reward=-0.2")),
        Grid("saute-button", ("trpo-saute",), ("SafetyPointButton1-v0",), ARMS),
        Grid("mujoco", ("cpo", "trpo-pid", "trpo-lag"), FALLS, ARMS),
        Grid("mujoco-crpo", ("crpo",), FALLS, ARMS, settings=("tolerance=0",)),
    ),
    paper=PAPER_SHAPO,
)
