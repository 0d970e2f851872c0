"""PCPO: Projection-Based Constrained Policy Optimization (Yang et al. 2020).

Per epoch, with c = Jc - d (Jc the undiscounted mean episode cost), the reward surrogate's
gradient g and the cost surrogate's gradient b: the TRPO reward step in the KL ball, then its
projection onto the linearised constraint c + b^T s <= 0 in the KL metric (Section 4, the
closed-form update with L = F):

    theta_{k+1} = theta_k + sqrt(2 delta / g^T F^-1 g) F^-1 g
                  - max(0, (sqrt(2 delta / g^T F^-1 g) b^T F^-1 g + c) / b^T F^-1 b) F^-1 b,

through the shared constrained step (``method="pcpo"``, :mod:`shapo_rl.optim.pcpo_projection`).
The reference library (OmniSafe 0.5.0) uses F x for F^-1 g in the reward step; this follows the
paper. The paper's Algorithm 1 takes this step as it is; since the projection can leave the
trust region, the step is backtracked as in the reference library: 0.8^k for up to 200 tries,
accepting the first whose mean KL is within delta and whose cost surrogate grows by at most
max(-c, 0) (the reward surrogate is not checked); if none qualifies, no step. Defaults as the
reference (delta 0.01, CG 15, damping 0.1). With SHAPO, g and b are each taken at their own
pessimistic neighbour, as CPO's; the projection and the line search at theta. The
``lagrange_multiplier`` column is the projection's coefficient nu (0 when the reward step is
already feasible).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shapo_rl.algorithms.cpo import CPO
from shapo_rl.config import TrustRegionConfig
from shapo_rl.optim import StepDirection


@dataclass(frozen=True)
class PCPOConfig:
    """The trust region; 200 backtracks as the reference library's PCPO line search."""

    trust_region: TrustRegionConfig = field(default_factory=lambda: TrustRegionConfig(backtrack_iters=200))


class PCPO(CPO):
    """CPO's epoch with the projection in place of the dual, no reward check, no case column."""

    method = "pcpo"

    def reward_must_improve(self, direction: StepDirection) -> bool:
        return False

    def step_metrics(self, direction: StepDirection) -> dict[str, float]:
        return {}
