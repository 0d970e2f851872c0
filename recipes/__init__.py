"""The recipes: one module per paper experiment, each defining ``RECIPE``.

Recipes are found by importing the modules named here (never by running a file a user names);
adding a recipe is its module plus one line.
"""

from __future__ import annotations

import importlib

from shapo_rl.config import ConfigError
from shapo_rl.launch.recipe import Recipe
from shapo_rl.lookup import lookup

MODULES = (
    "toy", "baselines", "shapo_main", "pidlag_lambda_init", "cost_tails", "fisher_vs_euclidean", "actor_vs_critic",
    "pessimism_schedule", "sensitivity", "runtime", "unconstrained_ppo", "gradient_geometry",
    "strpo_main", "strpo_delta", "strpo_unsafe_algo", "strpo_lambda2", "strpo_components", "strpo_robustness",
    "evidence_shapo", "evidence_strpo", "shapo_authors",
)


class UnknownRecipeError(ConfigError):
    """A recipe name that is not registered; the message suggests the nearest names."""


def recipes() -> dict[str, tuple[Recipe, str]]:
    """Every recipe by name, with the first line of its module's docstring (what it produces)."""
    found = {}
    for name in MODULES:
        module = importlib.import_module(f"recipes.{name}")
        found[module.RECIPE.name] = (module.RECIPE, (module.__doc__ or "").strip().splitlines()[0])
    return found


def get_recipe(name: str) -> Recipe:
    return lookup(recipes(), name, kind="recipe", error=UnknownRecipeError)[0]
