"""Two-process training (Lightning DDP over gloo, two CPU processes) on ToyCMDP.

Each process collects its own rollouts (seeds from its rank) and the updates are averaged across
processes (DDP's all-reduce of PPO's actor gradients; the module's explicit mean over processes of
what it takes with autograd.grad: the trust-region step, the critics' Adam/SAM steps), so after
every epoch the replicas must be bit-identical although their data differ, and the second
process's data must move the update. The 2-process runs go through a subprocess (this file, run
as a script: Lightning's launcher starts the second process by running the same command again);
each process saves what it collected and what it ended with, and the tests compare the two.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from shapo_rl.algorithms import apply_settings, config_from_dict
from shapo_rl.config import CriticConfig, ShapoConfig, TrainConfig
from shapo_rl.envs import ObservationNormalizer
from shapo_rl.rollout.datamodule import add_increments, rollout_increment

EPOCHS, STEPS_PER_EPOCH, NUM_ENVS = 3, 200, 4
TIMEOUT = 180  # seconds; a 2-process run whose processes disagree on a collective hangs
# Module state that may differ across processes: none; every tensor must be identical on all.
PER_PROCESS: tuple[str, ...] = ()


def _config(algo: str, settings: dict | None = None, **overrides) -> TrainConfig:
    return apply_settings(TrainConfig(algo=algo, env="ToyCMDP-v0", steps=EPOCHS * STEPS_PER_EPOCH,
                                      steps_per_epoch=STEPS_PER_EPOCH, num_envs=NUM_ENVS, seed=5,
                                      critic=CriticConfig(update_iters=2), **overrides), settings or {})


def _train_and_record(out: Path, config: TrainConfig, devices: int) -> None:
    """Train into ``out/run``; every process saves to ``out/rank{r}.pt`` its initial and final
    state_dict, each epoch's rollout (observations, actions, rewards), its policy after each
    update, its epoch metrics and the cluster environment Lightning ran it in."""
    from shapo_rl import keys, training

    torch.set_num_threads(1)
    record: dict = {"rollouts": [], "policies": [], "metrics": []}
    build = training.build_module

    def build_and_watch(cfg: TrainConfig, **options):
        module = build(cfg, **options)
        record["initial"] = {k: v.clone() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}

        def on_train_batch_start(batch, batch_idx):
            record["rollouts"].append({"observation": batch[keys.OBSERVATION].clone(),
                                       "action": batch[keys.ACTION].clone(),
                                       "loc": batch[keys.LOC].clone(), "scale": batch[keys.SCALE].clone(),
                                       "reward": batch["next", keys.REWARD].clone(),
                                       "done": batch["next", keys.DONE].clone()})

        def on_train_batch_end(outputs, batch, batch_idx):
            record["policies"].append({k: v.clone() for k, v in module.policy.state_dict().items()})
            record["metrics"].append(dict(module.epoch_metrics))

        module.on_train_batch_start = on_train_batch_start
        module.on_train_batch_end = on_train_batch_end
        record["module"] = module
        return module

    training.build_module = build_and_watch
    try:
        training.train(config, out / "run", progress=False, accelerator="cpu", devices=devices,
                       strategy="ddp" if devices > 1 else "auto", threads=1)
    finally:
        training.build_module = build
    module = record.pop("module")
    environment = getattr(module.trainer.strategy, "cluster_environment", None)  # none with one process
    torch.save({"rank": module.global_rank, "world_size": module.trainer.world_size,
                "environment": type(environment).__name__ if environment else None,
                "final": module.state_dict(), **record}, out / f"rank{module.global_rank}.pt")


def _load(out: Path, rank: int) -> dict:
    return torch.load(out / f"rank{rank}.pt", weights_only=False)


def _launch(out: Path, what: str) -> subprocess.Popen:
    """Start this file as a 2-process run in its own process group (Lightning's launcher starts
    the second process in it): ``what`` is a config as JSON, or ``--resume``."""
    command = [sys.executable, str(Path(__file__).resolve()), str(out), what]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)


def _finish(process: subprocess.Popen) -> None:
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the 2-process run did not finish in {TIMEOUT} s:\n{output[-4000:]}")
    assert process.returncode == 0, output[-4000:]


def _run_two_processes(out: Path, config: TrainConfig) -> list[dict]:
    _finish(_launch(out, json.dumps(config.to_dict())))
    return [_load(out, 0), _load(out, 1)]


# TRPO-Lag with critic SAM (the trust-region step and both SAM passes reduce their
# autograd.grad results explicitly); PPO-Lag plain (its actor gradients go through DDP's hooks).
# A small target KL, so that PPO stops early: the decision is taken on the KL averaged over
# the processes (taken on each one's own KL, they could stop after different numbers of
# iterations and pair up the wrong all-reduces, or hang).
PPO_ITERATIONS = 5
CONFIGS = {"trpo-lag-critic-sam": _config("trpo-lag", shapo=ShapoConfig(critic_sam=True)),
           "ppo-lag": _config("ppo-lag", {"clip.update_iters": PPO_ITERATIONS, "clip.target_kl": 0.0005})}


@pytest.fixture(scope="module", params=list(CONFIGS))
def ddp_run(request, tmp_path_factory):
    config = CONFIGS[request.param]
    out = tmp_path_factory.mktemp(request.param)
    return config, out, _run_two_processes(out, config)


def _replicated(state: dict) -> dict:
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor) and k not in PER_PROCESS}


def _assert_same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"differ across processes: {different}"


def test_two_processes_write_one_metrics_row_per_epoch_and_a_checkpoint(ddp_run):
    config, out, ranks = ddp_run
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    with (out / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # An epoch's steps are shared out: each process collects half of them, env_steps counts all.
    assert [int(r["env_steps"]) for r in rows] == [STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)]
    for r in ranks:
        assert [rollout["observation"].shape[:2].numel() for rollout in r["rollouts"]] == [STEPS_PER_EPOCH // 2] * EPOCHS
        assert int(r["final"]["env_steps"]) == EPOCHS * STEPS_PER_EPOCH
    checkpoint = torch.load(out / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == EPOCHS - 1
    _assert_same_tensors(_replicated(checkpoint["state_dict"]), _replicated(ranks[0]["final"]))


def test_replicas_stay_identical_while_training(ddp_run):
    _, _, (first, second) = ddp_run
    for epoch in range(EPOCHS):
        _assert_same_tensors(first["policies"][epoch], second["policies"][epoch])
    _assert_same_tensors(_replicated(first["final"]), _replicated(second["final"]))
    # ... and they did learn: the policy and the critics moved.
    for part in ("policy.", "critic"):
        assert any(not torch.equal(v, first["initial"][k]) for k, v in first["final"].items()
                   if part in k), f"no {part.strip('.')} parameter changed"


def test_each_process_collects_its_own_data(ddp_run):
    _, _, (first, second) = ddp_run
    for epoch in range(EPOCHS):
        for key in ("observation", "action", "reward"):
            assert not torch.equal(first["rollouts"][epoch][key], second["rollouts"][epoch][key]), (epoch, key)


def test_second_process_data_enters_the_update(ddp_run, tmp_path):
    config, _, (first, _) = ddp_run
    _train_and_record(tmp_path, config, devices=1)
    alone = _load(tmp_path, 0)
    assert alone["world_size"] == 1
    # Same weights and seeds: rank 0 collects the first half of a single process's epoch-0 rollout ...
    half = STEPS_PER_EPOCH // 2 // NUM_ENVS
    for key in ("observation", "action", "reward"):
        assert torch.equal(first["rollouts"][0][key], alone["rollouts"][0][key][:, :half]), key
    # ... but its update, averaged with rank 1's, differs from the single process's,
    assert any(not torch.equal(first["policies"][0][k], v) for k, v in alone["policies"][0].items())
    # and its normaliser holds both processes' observations: every step's, and the reset ones
    # (all envs at each rollout's start, then one per episode end).
    def seen(runs):
        return sum(r["rollouts"][e]["done"].numel() + NUM_ENVS + int(r["rollouts"][e]["done"].sum())
                   for r in runs for e in range(EPOCHS))

    assert first["final"]["obs_normalizer.count"] == seen(ddp_run[2])
    assert alone["final"]["obs_normalizer.count"] == seen([alone])


def test_episodes_of_all_processes_enter_metrics_and_multiplier(ddp_run):
    """Each process's multiplier ascends on the mean cost of every process's episodes."""
    _, _, (first, second) = ddp_run
    ended = [sum(int(r["rollouts"][e]["done"].sum()) for r in (first, second)) for e in range(EPOCHS)]
    assert [int(m["episodes"]) for m in first["metrics"]] == ended
    assert [m["lagrange_multiplier"] for m in first["metrics"]] == [m["lagrange_multiplier"] for m in second["metrics"]]
    assert torch.equal(first["final"]["algorithm.penalty.value"], second["final"]["algorithm.penalty.value"])


def test_ppo_stops_early_on_the_kl_averaged_over_processes(ddp_run):
    """The early stop fires, and on the mean of the processes' own KLs, which both log."""
    config, _, ranks = ddp_run
    if config.algo != "ppo-lag":
        pytest.skip("PPO only")
    from shapo_rl.algorithms.losses import mean_kl
    from shapo_rl.models import GaussianPolicy

    policy = GaussianPolicy(2, 1, config.model.hidden_sizes)
    iterations = [m["actor_iterations"] for m in ranks[0]["metrics"]]
    assert [m["actor_iterations"] for m in ranks[1]["metrics"]] == iterations
    assert min(iterations) < PPO_ITERATIONS
    for epoch in range(EPOCHS):
        policy.load_state_dict(ranks[0]["policies"][epoch])
        own = []
        for rank in ranks:
            rollout = rank["rollouts"][epoch]
            with torch.no_grad():
                own.append(float(mean_kl(policy, rollout["observation"].reshape(-1, 2),
                                         rollout["loc"].reshape(-1, 1), rollout["scale"].reshape(-1, 1))))
        assert ranks[0]["metrics"][epoch]["kl"] == ranks[1]["metrics"][epoch]["kl"]
        assert ranks[0]["metrics"][epoch]["kl"] == pytest.approx(sum(own) / 2, rel=1e-5)
        assert own[0] != pytest.approx(own[1], rel=1e-3)


def test_killed_two_process_run_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL both processes of a run mid-training, resume it with two processes: the metrics
    and the final checkpoint equal those of the same run left alone."""
    from test_resume import _metrics as _metrics_without_timing  # here: the script mode needs no CLI

    epochs = 8
    config = replace(CONFIGS["trpo-lag-critic-sam"], steps=epochs * STEPS_PER_EPOCH)
    _run_two_processes(tmp_path / "reference", config)
    killed = _launch(tmp_path / "killed", json.dumps(config.to_dict()))
    metrics = tmp_path / "killed" / "run" / "metrics.csv"
    deadline = time.monotonic() + TIMEOUT
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):  # header + 2 epochs
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()[0][-4000:]
        time.sleep(0.01)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate()
    done = len(_metrics_without_timing(tmp_path / "killed" / "run"))
    assert done < epochs, "the run finished before it could be killed"

    _finish(_launch(tmp_path / "killed", "--resume"))
    resumed = _metrics_without_timing(tmp_path / "killed" / "run")
    assert [int(r["epoch"]) for r in resumed] == list(range(epochs))
    assert resumed == _metrics_without_timing(tmp_path / "reference" / "run")
    final = [torch.load(tmp_path / name / "run" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
             for name in ("reference", "killed")]
    _assert_same_tensors(_replicated(final[0]), _replicated(final[1]))


def test_pooled_normalizer_statistics_equal_those_of_all_observations():
    """The per-rollout pooling: two processes that start from the same statistics and see
    different observations end with the statistics of one normaliser that saw all of them."""
    generator = torch.Generator().manual_seed(0)
    before, data = torch.randn(500, 3, generator=generator) * 4 + 7, torch.randn(2, 300, 3, generator=generator)
    everything = ObservationNormalizer(3)
    processes = [ObservationNormalizer(3), ObservationNormalizer(3)]
    for norm in (everything, *processes):
        norm.update(before)
    start = (processes[0].count.clone(), processes[0].mean.clone(), processes[0].m2.clone())
    for norm, x in zip(processes, data):
        for chunk in x.split(50):  # step by step, as during a rollout
            norm.update(chunk)
    everything.update(data.reshape(-1, 3))
    increments = torch.stack([rollout_increment(norm, *start) for norm in processes])
    count, mean, m2 = add_increments(*start, increments)
    assert count == everything.count == 1100
    torch.testing.assert_close(mean, everything.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(m2, everything.m2, rtol=1e-12, atol=1e-9)


if __name__ == "__main__":  # one process of a 2-process run; Lightning's launcher starts the other
    if sys.argv[2] == "--resume":
        from shapo_rl.training import train

        train(None, Path(sys.argv[1]) / "run", resume=True, progress=False, accelerator="cpu", devices=2,
              strategy="ddp", threads=1)
    else:
        _train_and_record(Path(sys.argv[1]), config_from_dict(json.loads(sys.argv[2])), devices=2)
