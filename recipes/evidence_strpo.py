"""Evidence at scale, sTRPO paper Figs. 2-3: sTRPO against CPO, TRPO-Lag and CPPO-PID on Hopper-Velocity, with attack sweeps of the final policies.

The ``bench`` scale is the committed evidence in ``results/evidence-strpo``: 5 seeds of
1,005,000 steps (67 epochs of 15,000 steps, the paper's epoch) per run, each sTRPO seed
excluding the unsafe policy its own seed's ``unsafe-dtrpo`` run learned on the same budget;
then 100 deterministic evaluation episodes of each final policy and, for sTRPO and the
baselines, a random-action attack sweep (rates 0, 0.1, ..., 1; 100 episodes each). The task's
cost limit 25, as strpo-main. The report shows sTRPO and the baselines; the unsafe runs are
exported beside them.

sTRPO runs twice per seed: with the default fallback where eq. 8 is infeasible (the most
separating step), and with ``fallback=trust-region`` (TRPO's step there). In the first grid every
seed fell back in 17-20 of its last 20 epochs, once |phi| had vanished far from the unsafe
policy, so the second arm asks what that fallback cost.
"""

from recipes.strpo_main import STRPO, UNSAFE
from shapo_rl.launch.recipe import PAPER_STRPO, Attack, Evaluate, Grid, Recipe, Scale, Variant

TASKS = ("SafetyHopperVelocity-v1",)

RECIPE = Recipe(
    "evidence-strpo",
    grids=(Grid(UNSAFE.name, UNSAFE.algos, TASKS),
           Grid(STRPO.name, STRPO.algos, TASKS, needs=STRPO.needs,
                variants=(Variant(""), Variant("trust-region-fallback", ("fallback=trust-region",)))),
           Grid("baselines", ("cpo", "trpo-lag", "cppo-pid"), TASKS)),
    post=(Evaluate(episodes=100), Attack(rates="0:1:0.1", episodes=100, grids=("strpo", "baselines"))),
    paper=PAPER_STRPO,
    bench=Scale("bench", steps=1_005_000, steps_per_epoch=15_000, seeds=(0, 1, 2, 3, 4)),
    against="cpo",  # the paper's claim: about half the violations of CPO, its best baseline
    reported=("strpo", "baselines"),  # the unsafe policies (about 950 cost per episode) would flatten every plot
)
