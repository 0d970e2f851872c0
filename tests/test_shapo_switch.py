"""SHAPO as a switch on every algorithm: radius 0 is exactly the base update; diagnostics logged."""

import csv
import dataclasses

import pytest
import torch

from shapo_rl.algorithms import ALGORITHMS, apply_settings
from shapo_rl.config import ClipConfig, CriticConfig, MinibatchConfig, ShapoConfig, TrainConfig
from shapo_rl.training import train

TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}
# SHAPO's diagnostics (shapo_norm, shapo_kl, ..., and CPO's shapo_cost_*) exist only with SHAPO on.


def _run(tmp_path, name, algo, shapo, settings=None):
    config = TrainConfig(algo=algo, env="ToyCMDP-v0", steps=400, steps_per_epoch=200, num_envs=10,
                         critic=CriticConfig(update_iters=2), shapo=shapo)
    defaults = ALGORITHMS[algo].defaults
    config = apply_settings(config, {**{f"{f.name}.update_iters": 2 for f in dataclasses.fields(defaults)
                                        if isinstance(getattr(defaults, f.name), (ClipConfig, MinibatchConfig))},
                                     **(settings or {})})
    run = train(config, tmp_path / name, progress=False)
    with (run / "metrics.csv").open() as f:
        rows = [{k: v for k, v in row.items() if k not in TIMING and not k.startswith("shapo_")} for row in csv.DictReader(f)]
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    return rows, {k: v for k, v in state.items() if k.startswith("policy.")}


# Radius 0 gives eps = 0 through the same code in both geometries: Fisher on every algorithm,
# Euclidean on one of each actor-step family (trust region, linearised cost, minibatch epochs).
RADIUS_ZERO = [(algo, "fisher") for algo in sorted(ALGORITHMS)] + [
    (algo, "euclidean") for algo in ("trpo-lag", "cpo", "ppo-lag")]


@pytest.mark.parametrize("algo,geometry", RADIUS_ZERO)
def test_radius_zero_is_exactly_the_base_algorithm(tmp_path, needs, algo, geometry):
    settings = needs(algo)
    base_rows, base_policy = _run(tmp_path, "base", algo, ShapoConfig(), settings)
    rows, policy = _run(tmp_path, "shapo", algo, ShapoConfig(geometry=geometry, radius=0.0), settings)
    assert rows == base_rows
    assert all(torch.equal(policy[k], base_policy[k]) for k in base_policy)


def test_positive_radius_changes_the_update_and_logs_its_diagnostics(tmp_path):
    base_rows, base_policy = _run(tmp_path, "base", "trpo-lag", ShapoConfig())
    _, policy = _run(tmp_path, "shapo", "trpo-lag", ShapoConfig(geometry="fisher", radius=1e-3, critic_sam=True))
    assert not all(torch.equal(policy[k], base_policy[k]) for k in base_policy)
    with (tmp_path / "shapo" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        assert 0 < float(row["shapo_kl"]) <= 1e-3 * (1 + 1e-6)  # the perturbation stays in its KL ball
        assert float(row["shapo_loss_drop"]) > 0  # the neighbour is pessimistic: the surrogate loss rises
        assert float(row["shapo_norm"]) > 0 and -1 <= float(row["shapo_cosine"]) <= 1
        assert float(row["shapo_radius"]) == 1e-3


def _critics(tmp_path, name, shapo):
    config = TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=200, steps_per_epoch=200, num_envs=10,
                         critic=CriticConfig(update_iters=2), shapo=shapo)
    state = torch.load(train(config, tmp_path / name, progress=False) / "checkpoints" / "last.ckpt",
                       weights_only=False)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("critics.")}


@pytest.mark.parametrize("on,member", [("reward", 0), ("cost", 1)])
def test_critic_sam_on_routes_sam_to_that_critic_only(tmp_path, on, member):
    """One epoch from the same rollout: the critic named by --critic-sam-on (member 0 is V_r, 1 is
    V_c) leaves plain Adam's weights, the other one keeps them bit for bit."""
    plain = _critics(tmp_path, "plain", ShapoConfig())
    sam = _critics(tmp_path, on, ShapoConfig(critic_sam=True, critic_sam_rho=0.05, critic_sam_on=on))
    other = 1 - member
    assert all(torch.equal(sam[k][other], plain[k][other]) for k in plain)
    assert not all(torch.equal(sam[k][member], plain[k][member]) for k in plain)
