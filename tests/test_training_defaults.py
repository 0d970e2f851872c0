"""Defaults that ``resolve`` fills in from the task."""

import pytest
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.training import default_num_envs, device_count, resolve, train


@pytest.mark.parametrize("steps_per_epoch,episode,expected", [
    (20_000, 1000, 20),  # one whole 1000-step episode per env
    (15_000, 1000, 15),
    (1000, 20, 50),
    (1000, 300, 2),  # 3 episodes fit, but 3 does not divide 1000
    (500, 1000, 1),  # not even one episode: a single env
])
def test_default_num_envs_is_the_largest_divisor_that_keeps_whole_episodes(steps_per_epoch, episode, expected):
    n = default_num_envs(steps_per_epoch, episode)
    assert n == expected
    assert steps_per_epoch % n == 0 and (n == 1 or steps_per_epoch // n >= episode)


def test_resolve_fills_env_count_and_cost_limit_but_keeps_explicit_values():
    resolved = resolve(TrainConfig(algo="trpo-lag", env="SafetyPointGoal1-v0", steps=20_000))
    assert resolved.num_envs == 20 and resolved.cost_limit == 25.0
    explicit = resolve(TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=1000, steps_per_epoch=1000,
                                   num_envs=8, cost_limit=3.0))
    assert explicit.num_envs == 8 and explicit.cost_limit == 3.0


def test_default_env_count_keeps_whole_episodes_when_processes_share_an_epoch():
    config = TrainConfig(algo="trpo-lag", env="SafetyPointGoal1-v0", steps=20_000)
    assert resolve(config, processes=2).num_envs == 10  # 10,000 steps each: 10 envs of one episode
    assert resolve(config, processes=1).num_envs == 20


def test_auto_devices_resolve_to_the_accelerators_count_before_the_run_directory_is_written(monkeypatch, tmp_path):
    """On a machine with two GPUs ``--devices auto`` means two processes: the epoch-sharing check
    refuses 8 envs x 2 processes for 1,000 steps before anything is written."""
    assert device_count("cpu", "auto") == 1 and device_count("auto", 3) == 3
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: True))
    monkeypatch.setattr(CUDAAccelerator, "auto_device_count", staticmethod(lambda: 2))
    assert device_count("auto", "auto") == 2 and device_count("gpu", "auto") == 2
    config = TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=1000, steps_per_epoch=1000, num_envs=8)
    with pytest.raises(ConfigError, match="number of processes \\(2\\)"):
        train(config, tmp_path / "run", devices="auto")
    assert not (tmp_path / "run").exists()
