"""The critic regression beside the next rollout (a child process) changes no number: metrics,
every epoch's checkpoint (weights, optimiser moments, the normaliser's statistics) and the final
tensors equal those of the run that regresses in place."""

import copy
import csv
from pathlib import Path

import pytest
import torch

from shapo_rl.algorithms import SafePolicyOptimization
from shapo_rl.algorithms import module as module_file
from shapo_rl.launch import engines
from shapo_rl.launch import job as job_file
from shapo_rl.algorithms.module import OVERLAP_MIN_STEPS
from shapo_rl.checkpoint_io import AtomicCheckpointIO
from shapo_rl.config import CriticConfig, ShapoConfig, TrainConfig
from shapo_rl.training import resolve, train

TIMING = {"epoch_seconds", "actor_seconds", "critic_seconds"}


def _metrics(run: Path) -> list[dict]:
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b


def _train_recording_checkpoints(config: TrainConfig, run: Path, overlap: bool, monkeypatch) -> list[dict]:
    """Train ``config``; the model and optimiser states of every checkpoint written, in order."""
    saved, original = [], AtomicCheckpointIO.save_checkpoint

    def save(self, checkpoint, path, storage_options=None):
        if Path(path).name != "last.ckpt":
            saved.append(copy.deepcopy({"state_dict": checkpoint["state_dict"],
                                        "optimizers": checkpoint["optimizer_states"]}))
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", save)
    train(config, run, progress=False, overlap_critics=overlap)
    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", original)
    return saved


CASES = {
    "trpo-lag": TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=1000, steps_per_epoch=200, num_envs=4, seed=1),
    "ppo-lag, shapo and critic sam": TrainConfig(
        algo="ppo-lag", env="ToyCMDP-v0", steps=800, steps_per_epoch=200, num_envs=4, seed=2,
        critic=CriticConfig(update_iters=3, max_grad_norm=0.5),
        shapo=ShapoConfig(geometry="fisher", radius=1e-3, critic_sam=True, critic_sam_rho=0.05)),
    "hopper, fast backend": TrainConfig(algo="trpo-pid", env="SafetyHopperVelocity-v1", steps=3000,
                                        steps_per_epoch=1000, num_envs=4, seed=0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_overlapped_critic_regression_is_the_serial_run_bit_for_bit(tmp_path, monkeypatch, name):
    config = CASES[name]
    serial = _train_recording_checkpoints(config, tmp_path / "serial", False, monkeypatch)
    overlapped = _train_recording_checkpoints(config, tmp_path / "overlapped", True, monkeypatch)
    assert len(serial) == config.epochs
    assert _metrics(tmp_path / "overlapped") == _metrics(tmp_path / "serial")
    for epoch, (a, b) in enumerate(zip(serial, overlapped, strict=True)):
        assert _equal(a, b), f"checkpoint of epoch {epoch} differs"
    # the intermediate checkpoints were written while the next rollout had already been collected
    assert any(k.startswith("obs_normalizer.") for k in serial[0]["state_dict"])
    assert not _equal(serial[0]["state_dict"]["obs_normalizer.count"], serial[1]["state_dict"]["obs_normalizer.count"])


@pytest.mark.parametrize("cores", [1, 2])
def test_long_runs_overlap_by_default_where_the_child_has_a_core(monkeypatch, cores):
    monkeypatch.setattr(module_file, "available_cores", lambda: cores)
    for steps, expected in ((OVERLAP_MIN_STEPS, cores >= 2), (OVERLAP_MIN_STEPS - 200, False)):
        config = resolve(TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=steps, steps_per_epoch=200))
        module = SafePolicyOptimization(config, obs_dim=3, act_dim=1, cost_limit=1.0)

        class Trainer:
            world_size, max_epochs, should_stop, current_epoch = 1, config.epochs, False, 0
            datamodule = type("Data", (), {"collect_ahead": lambda self, epoch: None})()

        module._trainer = Trainer()
        assert (module._next_rollout_collector() is not None) == expected
        module.overlap_critics = True  # asked for: overlaps whatever the cores
        assert module._next_rollout_collector() is not None
        module.overlap_critics = False
        assert module._next_rollout_collector() is None
        Trainer.world_size, module.overlap_critics = 2, True  # several processes: never
        assert module._next_rollout_collector() is None
        Trainer.world_size, Trainer.current_epoch = 1, config.epochs - 1  # the last epoch: no next rollout
        assert module._next_rollout_collector() is None


@pytest.mark.parametrize(("jobs", "cores", "options"), [(1, 2, ()), (2, 2, ("--no-overlap-critics",)),
                                                        (2, 4, ()), (3, 4, ("--no-overlap-critics",))])
def test_the_local_engine_lets_jobs_overlap_only_with_two_cores_each(monkeypatch, jobs, cores, options):
    monkeypatch.setattr(engines, "available_cores", lambda: cores)
    assert engines.LocalEngine(jobs).train_options == options


def test_a_job_adds_the_engine_options_to_its_train_commands(tmp_path, monkeypatch):
    calls = []

    class Child:
        def __init__(self, command, **kwargs):
            calls.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(job_file.subprocess, "Popen", Child)
    spec = job_file.RunSpec("run", tmp_path / "run", tmp_path / "logs", ("--algo", "trpo", "--env", "ToyCMDP-v0"),
                            post=(job_file.Command(("evaluate", "{run}"), "evaluation.csv"),))
    job_file.Job(("--no-overlap-critics",))(spec)
    train, evaluate = calls
    assert train[-1] == "--no-overlap-critics" and "train" in train
    assert "--no-overlap-critics" not in evaluate
