"""Variants and task lists the recipes share (not a recipe itself)."""

from __future__ import annotations

from shapo_rl.launch.recipe import Variant

VANILLA = Variant("vanilla")
SHAPO_SETTINGS = ("shapo.geometry=fisher", "shapo.radius=1e-5", "shapo.critic_sam=true", "shapo.critic_sam_rho=0.05")
# delta_p 1e-5 and rho_c 0.05: the authors' code's values (App. E.1 calls them the most common choice of
# its grid search). Their KL is averaged over action dimensions, as ours by default
# (model.kl_reduction=mean), so 1e-5 means here what it meant there.
SHAPO = Variant("shapo", SHAPO_SETTINGS)

SAFETY_GYM = ("SafetyPointGoal1-v0", "SafetyPointButton1-v0")
FALLS = ("Ant-v4", "Walker2d-v4")
STRPO_TASKS = ("SafetyCarGoal1-v0", "SafetyCarCircle1-v0", "SafetyHopperVelocity-v1", "SafetyAntVelocity-v1")
STRPO_BASELINES = ("trpo-lag", "cpo", "ppo-lag", "cppo-pid", "rcpo", "pcpo", "cup")


def crossed(first: tuple[Variant, ...], second: tuple[Variant, ...]) -> tuple[Variant, ...]:
    """Every pair, named ``first-second``, with both settings."""
    return tuple(Variant(f"{a.name}-{b.name}", a.settings + b.settings) for a in first for b in second)
