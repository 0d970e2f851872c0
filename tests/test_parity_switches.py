"""The switches behind the reference library's learning details: each reachable from the command
line, recorded in config.yaml, and computing what it says."""

import csv
import math

import pytest
import torch
import yaml
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.algorithms.losses import mean_kl
from shapo_rl.envs import ObservationNormalizer
from shapo_rl.models import GaussianPolicy
from shapo_rl.optim import SAM
from shapo_rl.rollout.episode_window import EpisodeWindow

REFERENCE = {"model.init_log_std": "0", "model.actor_init": "torch", "model.kl_reduction": "mean",
             "obs_clip": "5", "obs_std_floor": "0.01", "episode_cost_window": "50", "critic.max_grad_norm": "40"}


def test_every_switch_reaches_config_yaml_and_the_windowed_columns_average_the_last_50_episodes(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--algo", "trpo-lag", "--env", "ToyCMDP-v0", "--steps", "1400", "--steps-per-epoch", "200",
            "--num-envs", "10", "--no-progress", "--out", str(out)]
    for key, value in REFERENCE.items():
        args += ["--set", f"{key}={value}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"] == {"hidden_sizes": [64, 64], "init_log_std": 0.0, "actor_init": "torch",
                               "kl_reduction": "mean"}
    assert (config["obs_clip"], config["obs_std_floor"], config["episode_cost_window"]) == (5.0, 0.01, 50)
    assert config["critic"]["max_grad_norm"] == 40.0
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 10 envs x one 20-step episode per epoch: the last 50 episodes are the last 5 epochs' 50.
    for end in range(len(rows)):
        window = rows[max(0, end - 4): end + 1]
        for column in ("return", "cost"):
            expected = sum(float(r[f"ep_{column}"]) for r in window) / len(window)
            assert float(rows[end][f"ep_{column}_last50"]) == pytest.approx(expected, rel=1e-6)


def test_normaliser_clip_and_std_floor_against_hand_values():
    norm = ObservationNormalizer(3, clip=5.0, std_floor=1e-2)
    data = torch.tensor([[0.0, 1.0, 10.0], [0.0, 1.001, -10.0], [0.0, 0.999, 0.0]], dtype=torch.float64)
    norm.update(data)
    # means 0, 1, 0; population stds 0, sqrt(2e-6/3) ~ 8.2e-4, sqrt(200/3) ~ 8.16
    x = torch.tensor([[0.5, 1.001, 50.0]], dtype=torch.float64)
    expected = [0.5 / 1e-2, 0.001 / 1e-2, 50.0 / math.sqrt(200 / 3 + 1e-8)]  # floored, floored, plain
    clipped = [min(max(v, -5.0), 5.0) for v in expected]
    assert norm.normalize(x)[0].tolist() == pytest.approx(clipped, rel=1e-6)
    plain = ObservationNormalizer(3)  # the default: sqrt(var + 1e-8), clip 10
    plain.update(data)
    got = plain.normalize(x)[0].tolist()
    assert got[0] == 10.0 and got[1] == pytest.approx(0.001 / math.sqrt(2e-6 / 3 + 1e-8), rel=1e-5)
    assert got[2] == pytest.approx(50.0 / math.sqrt(200 / 3 + 1e-8), rel=1e-6)


def test_kl_reduction_sum_and_mean_against_the_two_dimensional_gaussian_kl():
    policy = GaussianPolicy(1, 2, (4,), init_log_std=math.log(0.5)).double()
    obs = torch.zeros(1, 1, dtype=torch.float64)
    with torch.no_grad():
        mu, sigma = (t[0].tolist() for t in policy(obs))
    old_loc = torch.tensor([[0.3, -0.2]], dtype=torch.float64)
    old_scale = torch.tensor([[0.7, 0.4]], dtype=torch.float64)
    per_dim = [math.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5
               for m0, s0, m1, s1 in zip(old_loc[0].tolist(), old_scale[0].tolist(), mu, sigma)]
    with torch.no_grad():
        assert float(mean_kl(policy, obs, old_loc, old_scale)) == pytest.approx(sum(per_dim), rel=1e-12)
        assert float(mean_kl(policy, obs, old_loc, old_scale, reduction="mean")) == pytest.approx(
            sum(per_dim) / 2, rel=1e-12)


def test_actor_init_torch_is_pytorchs_default_and_orthogonal_starts_near_zero():
    torch.manual_seed(0)
    orthogonal = GaussianPolicy(5, 2, (64, 64), init="orthogonal")
    torch.manual_seed(0)
    default = GaussianPolicy(5, 2, (64, 64))  # the default init
    torch.manual_seed(0)
    reference = torch.nn.Linear(5, 64)  # the first layer PyTorch would draw
    assert torch.equal(default.mean[0].weight, reference.weight)
    obs = torch.randn(100, 5)
    assert orthogonal(obs)[0].abs().max() < 0.05 < default(obs)[0].abs().max()


def test_critic_gradient_clip_per_member_equals_clip_grad_norm_on_each_model():
    gen = torch.Generator().manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(2, 3, dtype=torch.float64, generator=gen))
    x = torch.randn(8, 3, dtype=torch.float64, generator=gen)
    targets = torch.stack([x @ torch.tensor([5.0, 0, 0], dtype=torch.float64), torch.zeros(8, dtype=torch.float64)])
    sam = SAM([weights], torch.optim.SGD, rho=0.0, members=2, max_grad_norm=1.0, lr=1.0)
    before = weights.detach().clone()
    sam.step(lambda: ((weights @ x.T - targets) ** 2).mean(1))
    for i in range(2):
        w = torch.nn.Parameter(before[i].clone())
        ((w @ x.T - targets[i]) ** 2).mean().backward()
        torch.nn.utils.clip_grad_norm_([w], 1.0)
        torch.testing.assert_close(weights.detach()[i], before[i] - w.grad, rtol=1e-12, atol=1e-12)
    assert float((weights.detach() - before)[0].norm()) == pytest.approx(1.0, rel=1e-5)  # member 0 was clipped


def test_episode_window_keeps_the_last_episodes_in_order():
    window = EpisodeWindow(4)
    assert all(math.isnan(v) for v in window.mean(4))
    window.add(torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0]))
    assert window.mean(4) == (1.5, 15.0) and window.mean(1) == (2.0, 20.0)
    window.add(torch.tensor([3.0, 4.0, 5.0]), torch.tensor([30.0, 40.0, 50.0]))
    assert window.mean(4) == (3.5, 35.0) and int(window.count) == 4
    restored = EpisodeWindow(4)
    restored.load_state_dict(window.state_dict())
    assert restored.mean(2) == (4.5, 45.0)
