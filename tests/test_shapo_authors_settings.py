"""The switches behind the SHAPO authors' settings and the preset that sets them: gymnasium's
observation normaliser, the perturbation's fallback, the critics' default init, and
``--set preset=shapo-authors`` recorded in config.yaml with explicit settings winning."""

from __future__ import annotations

import csv
import math

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from gymnasium.wrappers import NormalizeObservation
from torch import nn
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.algorithms import apply_settings
from shapo_rl.algorithms.actor_steps import perturbation_metrics
from shapo_rl.checkpoints import build_module
from shapo_rl.config import ConfigError, ShapoConfig, TrainConfig
from shapo_rl.envs import ObservationNormalizer
from shapo_rl.models.networks import StackedMLP, mlp
from shapo_rl.optim import sharpness_aware_gradient
from shapo_rl.optim.sharpness import fisher_perturbation
from shapo_rl.presets import PRESETS
from shapo_rl.training import resolve


class _ScriptedVectorEnv(gym.Env):
    """A vector env (as gymnasium's wrappers see one) whose reset and steps return given batches."""

    is_vector_env = True

    def __init__(self, batches: list[np.ndarray]):
        self.batches, self.t = batches, 0
        self.num_envs, dim = batches[0].shape
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, batches[0].shape, np.float64)
        self.action_space = gym.spaces.Box(-1, 1, (self.num_envs, 1))

    def reset(self, **kwargs):
        self.t = 0
        return self.batches[0], {}

    def step(self, action):
        self.t += 1
        return self.batches[self.t], np.zeros(self.num_envs), np.zeros(self.num_envs, bool), \
            np.zeros(self.num_envs, bool), {}


def _observation_batches(steps: int = 40, envs: int = 5) -> list[np.ndarray]:
    """Lidar-like columns (near-constant, std ~1e-3), a large-scale column and occasional spikes."""
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(steps):
        x = np.stack([0.2 + 1e-3 * rng.standard_normal(envs), 30 * rng.standard_normal(envs),
                      rng.standard_normal(envs) * (rng.random(envs) < 0.1) * 50, np.full(envs, 3.0)], axis=1)
        batches.append(x)
    batches[-1][-1, 3] = 3.5  # a bin that never moved, moving: gymnasium's output is far beyond any clip
    return batches


def test_no_clip_no_floor_and_prior_count_1e_4_is_gymnasiums_normalize_observation():
    """Same statistics (count, mean, variance) after every batch to 1e-12, same outputs to float32
    rounding; the spikes gymnasium passes through (|x| far above 5) are not clipped."""
    batches = _observation_batches()
    theirs = NormalizeObservation(_ScriptedVectorEnv(batches))
    ours = ObservationNormalizer(4, clip=None, std_floor=0.0, prior_count=1e-4)
    largest = 0.0
    for i, batch in enumerate(batches):
        want = theirs.reset()[0] if i == 0 else theirs.step(None)[0]
        got = ours._apply_transform(torch.from_numpy(batch.astype(np.float32)))
        # ours normalises the float32 observation the simulator wrapper emits; theirs the float64 one
        want32 = (batch.astype(np.float32).astype(np.float64) - theirs.obs_rms.mean) / np.sqrt(theirs.obs_rms.var + 1e-8)
        np.testing.assert_allclose(got.numpy(), want32.astype(np.float32), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-3, atol=1e-3)  # float32 inputs aside: theirs
        largest = max(largest, float(got.abs().max()))
    assert largest > 10  # one outlier among 200 values: about sqrt(199) = 14.1, beyond the default clip of 5
    np.testing.assert_allclose(float(ours.count), theirs.obs_rms.count, rtol=1e-15)
    # statistics of the float32 observations against gymnasium's of the same values
    reference = NormalizeObservation(_ScriptedVectorEnv([b.astype(np.float32).astype(np.float64) for b in batches]))
    reference.reset()
    for _ in batches[1:]:
        reference.step(None)
    np.testing.assert_allclose(ours.mean.numpy(), reference.obs_rms.mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours.var.numpy(), reference.obs_rms.var, rtol=1e-12, atol=1e-18)


def test_a_prior_count_is_pseudo_observations_of_mean_zero_and_variance_one():
    norm = ObservationNormalizer(1, prior_count=2.0)
    assert norm.var.tolist() == [1.0] and norm.count == 2.0
    norm.update(torch.tensor([[4.0], [6.0]], dtype=torch.float64))
    # pooled: values {4, 6} and 2 pseudo-observations of mean 0, variance 1
    mean = (4 + 6) / 4
    second_moment = (2 * 1.0 + 16 + 36) / 4
    assert norm.mean.item() == pytest.approx(mean, rel=1e-15)
    assert norm.var.item() == pytest.approx(second_moment - mean**2, rel=1e-14)
    with pytest.raises(ValueError, match="prior_count"):
        ObservationNormalizer(1, prior_count=-1.0)


def test_the_default_normaliser_still_clips_and_has_no_prior():
    norm = ObservationNormalizer(1, clip=5.0)
    norm.update(torch.tensor([[0.0], [2.0]], dtype=torch.float64))
    assert norm.count == 2 and norm.mean.item() == 1.0 and norm.var.item() == 1.0
    assert norm.normalize(torch.tensor([[100.0]])).item() == 5.0


def _never_fits(eps: torch.Tensor) -> torch.Tensor:
    return torch.tensor(math.inf)


@pytest.mark.parametrize("fallback, fraction", [("zero", 0.0), ("tenth", 0.1)])
def test_the_perturbation_fallback_when_no_backtrack_fits(fallback, fraction):
    """F = 2 I: x = g / 2, eps0 = sqrt(2 delta / (x^T F x)) x = sqrt(4 delta / g^T g) g / 2."""
    g = torch.tensor([3.0, -4.0], dtype=torch.float64)
    radius = 1e-3
    eps0 = math.sqrt(4 * radius / 25.0) * g / 2
    eps, j = fisher_perturbation(g, lambda v: 2 * v, _never_fits, radius, cg_iters=5,
                                 fallback=ShapoConfig(fallback=fallback).fallback_fraction)
    assert j == 10
    torch.testing.assert_close(eps, fraction * eps0, rtol=1e-12, atol=0)
    fits, j = fisher_perturbation(g, lambda v: 2 * v, lambda e: torch.tensor(0.0), radius, cg_iters=5, fallback=0.1)
    assert j == 0
    torch.testing.assert_close(fits, eps0, rtol=1e-12, atol=0)  # the fallback only where nothing fits


def test_the_tenth_fallback_takes_the_gradient_at_a_tenth_of_eps0_and_says_it_fell_back():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(3, dtype=torch.float64))
    target = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)

    def loss():
        return ((w - target) ** 2).sum() + (w**4).sum()

    def kl():  # a quadratic "KL" from the current point whose ball is never met by a backtrack below
        return 1e6 * ((w - w.detach()) ** 2).sum() + 1.0

    results = {}
    for name in ("zero", "tenth"):
        before = w.detach().clone()
        g, g_shapo, info = sharpness_aware_gradient(loss, [w], geometry="fisher", radius=1e-4, kl_fn=kl,
                                                    fallback=ShapoConfig(fallback=name).fallback_fraction)
        assert torch.equal(w.detach(), before)  # restored bit for bit
        assert info.fell_back and info.backtracks == 10
        results[name] = (g, g_shapo, info)
    g, g_shapo, info = results["zero"]
    assert torch.equal(g_shapo, g) and info.norm == 0.0
    g, g_shapo, info = results["tenth"]
    assert info.norm > 0 and not torch.equal(g_shapo, g)
    # the gradient at w + eps, eps = 0.1 eps0 along F^-1 g (F = 2e6 I + damping 0.1)
    x = g / (2e6 + 0.1)
    eps = 0.1 * math.sqrt(2 * 1e-4 / float((x @ x) * (2e6 + 0.1))) * x
    at = (w.detach() + eps).requires_grad_()
    (expected,) = torch.autograd.grad(((at - target) ** 2).sum() + (at**4).sum(), at)
    torch.testing.assert_close(g_shapo, expected, rtol=1e-9, atol=1e-12)
    metrics = perturbation_metrics([results["zero"][2], info, None])
    assert metrics["shapo_fallback"] == 1.0 and metrics["shapo_backtracks"] == 10.0


def test_default_critic_init_is_pytorchs_layer_init_member_by_member():
    torch.manual_seed(3)
    default = StackedMLP(7, (16, 16), members=2, orthogonal=False)
    torch.manual_seed(3)
    members = [mlp(7, 1, (16, 16), orthogonal=False) for _ in range(2)]
    linears = [[m for m in net if isinstance(m, nn.Linear)] for net in members]
    for i, (weight, bias) in enumerate(zip(default.weights, default.biases)):
        for member in range(2):
            assert torch.equal(weight[member], linears[member][i].weight.detach().T)
            assert torch.equal(bias[member, 0], linears[member][i].bias.detach())
    assert all(b.abs().max() > 0 for b in default.biases)  # orthogonal init zeroes every bias
    assert all(b.abs().max() <= 1 / math.sqrt(w.shape[1]) for w, b in zip(default.weights, default.biases))
    orthogonal = StackedMLP(7, (16, 16), members=2)
    assert all(torch.count_nonzero(b) == 0 for b in orthogonal.biases)


def _train(tmp_path, *extra: str) -> tuple[int, str, dict]:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--algo", "trpo-pid", "--env", "ToyCMDP-v0", "--steps", "400",
                                      "--steps-per-epoch", "200", "--no-progress", "--out", str(out), *extra])
    config = yaml.safe_load((out / "config.yaml").read_text()) if (out / "config.yaml").is_file() else {}
    return result.exit_code, result.output, config


def test_the_preset_reaches_config_yaml_and_the_run(tmp_path):
    code, output, config = _train(tmp_path, "--shapo", "fisher", "--set", "preset=shapo-authors")
    assert code == 0, output
    assert config["preset"] == "shapo-authors"
    assert (config["cost_limit"], config["obs_clip"], config["obs_std_floor"], config["obs_prior_count"]) == (
        20.0, None, 0.0, 1e-4)  # ToyCMDP-v0's own limit
    assert (config["shapo"]["cg_iters"], config["shapo"]["fallback"], config["shapo"]["geometry"],
            config["shapo"]["critic_sam"]) == (10, "tenth", "fisher", False)
    assert config["critic"]["init"] == "default"
    for init, nonzero in (("default", True), ("orthogonal", False)):  # the module's critics as built
        module = build_module(resolve(apply_settings(TrainConfig("trpo-pid", "ToyCMDP-v0", 400, steps_per_epoch=200),
                                                     [f"critic.init={init}"])))
        assert all(bool(torch.count_nonzero(b)) == nonzero for b in module.critics.module.net.biases)
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert all(0 <= float(r["shapo_fallback"]) <= 1 and float(r["shapo_backtracks"]) >= 0 for r in rows)
    assert len(PRESETS["shapo-authors"]) == 6  # every key above


def test_explicit_settings_before_or_after_the_preset_win(tmp_path):
    config = apply_settings(TrainConfig("trpo-pid", "ToyCMDP-v0", 400, steps_per_epoch=200),
                            ["obs_std_floor=0.05", "preset=shapo-authors", "shapo.cg_iters=12"])
    assert (config.obs_std_floor, config.shapo.cg_iters) == (0.05, 12)
    assert (config.obs_clip, config.shapo.fallback, config.critic.init) == (None, "tenth", "default")
    plain = apply_settings(TrainConfig("trpo-pid", "ToyCMDP-v0", 400, steps_per_epoch=200), [])
    assert (plain.preset, plain.obs_clip, plain.obs_prior_count, plain.shapo.fallback, plain.critic.init) == (
        "", 5.0, 0.0, "zero", "orthogonal")


def test_an_unknown_preset_or_fallback_is_one_line_and_exit_2(tmp_path):
    for setting, message in (("preset=authors", "unknown preset 'authors'"),
                             ("shapo.fallback=half", "shapo.fallback must be one of zero, tenth"),
                             ("critic.init=xavier", "critic.init must be one of orthogonal, default"),
                             ("obs_prior_count=-1", "obs_prior_count")):
        code, output, _ = _train(tmp_path, "--set", setting)
        assert code == 2 and message in output and "Traceback" not in output, output
    with pytest.raises(ConfigError, match="preset"):
        TrainConfig("trpo-pid", "ToyCMDP-v0", 400, steps_per_epoch=200, preset="nope")
