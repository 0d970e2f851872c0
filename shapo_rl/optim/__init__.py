"""Pure tensor optimisation code: Fisher geometry, trust regions, SHAPO and SAM."""

from shapo_rl.optim.conjugate_gradient import conjugate_gradient
from shapo_rl.optim.constrained_step import (
    LinearConstraint,
    StepDirection,
    TrustRegionInfo,
    TrustRegionOptimizer,
    constrained_natural_step,
    step_direction,
)
from shapo_rl.optim.fisher import Reduce, fisher_vector_product, identity_reduce
from shapo_rl.optim.parameters import (
    flat_grad,
    get_flat_params,
    optimizer_params,
    set_flat_grads,
    set_flat_params,
)
from shapo_rl.optim.pessimism import (
    ConstantRadius,
    DecayRadius,
    PercentileRadius,
    RadiusSchedule,
    implied_percentile,
    make_schedule,
)
from shapo_rl.optim.sam import SAM
from shapo_rl.optim.sharpness import (
    Geometry,
    ObjectiveGradient,
    PerturbationInfo,
    SharpnessAwareGradient,
    euclidean_perturbation,
    fisher_perturbation,
    sharpness_aware_gradient,
)
from shapo_rl.optim.trust_region import (
    LineSearchResult,
    NonFiniteError,
    backtracking_line_search,
    improves_within,
    natural_gradient_step,
)

__all__ = [
    "SAM",
    "ConstantRadius",
    "DecayRadius",
    "Geometry",
    "LineSearchResult",
    "LinearConstraint",
    "NonFiniteError",
    "ObjectiveGradient",
    "PercentileRadius",
    "PerturbationInfo",
    "RadiusSchedule",
    "Reduce",
    "SharpnessAwareGradient",
    "StepDirection",
    "TrustRegionInfo",
    "TrustRegionOptimizer",
    "backtracking_line_search",
    "conjugate_gradient",
    "constrained_natural_step",
    "euclidean_perturbation",
    "fisher_perturbation",
    "fisher_vector_product",
    "flat_grad",
    "get_flat_params",
    "identity_reduce",
    "implied_percentile",
    "improves_within",
    "make_schedule",
    "natural_gradient_step",
    "optimizer_params",
    "set_flat_grads",
    "set_flat_params",
    "sharpness_aware_gradient",
    "step_direction",
]
