"""Shared fixtures: a tiny unsafe policy run, for the algorithms that exclude one (strpo)."""

import pytest

from shapo_rl.config import CriticConfig, TrainConfig
from shapo_rl.training import train


@pytest.fixture(scope="session")
def unsafe_run(tmp_path_factory):
    """An unsafe-trpo run on ToyCMDP-v0 (two 200-step epochs): a policy strpo can load."""
    config = TrainConfig(algo="unsafe-trpo", env="ToyCMDP-v0", steps=400, steps_per_epoch=200, num_envs=10,
                         critic=CriticConfig(update_iters=2))
    return train(config, tmp_path_factory.mktemp("unsafe") / "run", progress=False)


@pytest.fixture
def needs(request):
    """``needs(algo)``: the settings an algorithm cannot run without in a test (strpo's unsafe policy)."""
    return lambda algo: {"unsafe_policy": str(request.getfixturevalue("unsafe_run"))} if algo == "strpo" else {}


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core this process may use (a container's CPU quota included),
    not per core its host has."""
    from shapo_rl.envs.workers import available_cores

    return available_cores()
