"""SHAPO paper Fig. 2: norms of the standard and SHAPO gradients against the action magnitude, for both advantage signs.

No training: `recipe report` computes them from Prop. 3's closed form and from the library's
own SHAPO gradient on the same one-state Gaussian policy, and draws both. The advantages
(+1, -1) and the radius delta = 0.01 are our choice.
"""

from shapo_rl.launch.recipe import PAPER_SHAPO, Recipe
from shapo_rl.reporting.prop3 import gradient_geometry_figure

RECIPE = Recipe("gradient-geometry", paper=PAPER_SHAPO, figures=gradient_geometry_figure)
