"""Saute (Sootla et al. 2022): the safety state against hand values, resets (full and partial),
reward replacement, the observation one larger wherever a Saute run's env is built (training,
evaluation, attacks, checkpoint reload, videos), and the refusal of a cost limit of 0."""

import csv

import pytest
import torch
from tensordict import TensorDict
from typer.testing import CliRunner

from cli.app import app
from shapo_rl import keys
from shapo_rl.algorithms import apply_settings
from shapo_rl.checkpoints import env_dimensions, load_module
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs import make_env
from shapo_rl.envs.saute import SauteState, saute_budget
from shapo_rl.evaluation import attack_sweep, run_episodes
from shapo_rl.models import GaussianPolicy
from shapo_rl.rollout.collector import RolloutCollector
from shapo_rl.training import resolve

runner = CliRunner()
TINY = ["--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10", "--no-progress"]
UNSAFE = -7.0


def _toy(num_envs=1, **kwargs):
    """ToyCMDP of 3-step episodes with d = 4, gamma_s = 1/2: B = 4 (1 - 1/8) / (1/2 * 3) = 7/3."""
    saute = SauteState(4.0, 3, gamma=0.5, unsafe_reward=UNSAFE)
    return make_env("ToyCMDP-v0", num_envs=num_envs, normalize_obs=False, max_episode_steps=3, transforms=[saute],
                    **kwargs)


def test_budget_scaling_against_hand_values():
    assert saute_budget(4.0, 0.5, 3) == pytest.approx(7 / 3, rel=1e-15)
    assert saute_budget(25.0, 1.0, 1000) == 25.0
    # the reference library's defaults: 25 (1 - 0.999^1000) / (0.001 * 1000), 0.999^1000 = exp(-1.0005)
    assert saute_budget(25.0, 0.999, 1000) == pytest.approx(15.80762, rel=1e-6)
    with pytest.raises(ValueError, match="cost limit > 0"):
        saute_budget(0.0, 0.999, 1000)


def test_safety_state_sequence_and_unsafe_reward_against_hand_values():
    # a = 0 costs 1, a = 1 costs 4: z = (1 - 3/7) * 2 = 8/7, (8/7 - 3/7) * 2 = 10/7, (10/7 - 12/7) * 2 = -4/7
    env = _toy()
    td = env.reset()
    assert td[keys.SAFETY_STATE].item() == 1.0 and td[keys.OBSERVATION][0, -1].item() == 1.0
    states, rewards, returns = [], [], []
    for a in (0.0, 0.0, 1.0):
        td[keys.ACTION] = torch.tensor([[a]])
        td = env.step(td)
        nxt = td["next"]
        assert nxt[keys.OBSERVATION][0, -1] == nxt[keys.SAFETY_STATE][0, 0]
        states.append(nxt[keys.SAFETY_STATE].item())
        rewards.append(nxt[keys.REWARD].item())
        returns.append(nxt[keys.EPISODE_RETURN].item())
        td = nxt
    assert states == pytest.approx([8 / 7, 10 / 7, -4 / 7], rel=1e-6)
    assert rewards == [1.0, 1.0, UNSAFE]  # the budget is spent on the step that ends below 0
    assert returns == [1.0, 2.0, 4.0]  # the counters keep the task's own reward


def test_full_and_partial_resets_restore_z():
    env = _toy(num_envs=2)
    td = env.reset()
    td[keys.ACTION] = torch.tensor([[0.0], [1.0]])
    td = env.step(td)["next"]
    before = td[keys.SAFETY_STATE].clone()
    assert (before != 1).all()
    # a partial reset through TorchRL's reset (as step_and_maybe_reset) and as the rollout collector does (_reset)
    partial = env.reset(td.clone().set("_reset", torch.tensor([[True], [False]])))
    assert partial[keys.SAFETY_STATE].flatten().tolist() == [1.0, before[1, 0].item()]
    assert partial[keys.OBSERVATION][:, -1].tolist() == partial[keys.SAFETY_STATE].flatten().tolist()
    bare = env._reset(TensorDict({"_reset": torch.tensor([[False], [True]])}, batch_size=[2]))
    assert bare[keys.SAFETY_STATE][1, 0].item() == 1.0
    assert (env.reset()[keys.SAFETY_STATE] == 1).all()


def test_collector_rollouts_restart_z_at_every_episode():
    """RolloutCollector steps ``env._step`` and resets done rows through ``env._reset``: each
    episode's first observation carries z = 1, and z follows the costs in between."""
    env = _toy(num_envs=2)
    policy = GaussianPolicy(3, 1, (8,), 0.0, "orthogonal")
    rollout = RolloutCollector(env, policy, frames_per_batch=2 * 7).rollout()  # 3 + 3 + 1 steps per env
    z = rollout[keys.SAFETY_STATE]
    assert (z[:, [0, 3, 6]] == 1).all()
    assert torch.equal(rollout[keys.OBSERVATION][..., -1:], z)
    cost = rollout["next", keys.COST]
    expected = (z - cost / (7 / 3)) / 0.5
    assert torch.allclose(rollout["next", keys.SAFETY_STATE], expected, rtol=1e-6)
    reward = rollout["next", keys.REWARD]
    spent = rollout["next", keys.SAFETY_STATE] <= 0
    assert torch.equal(reward[spent], torch.full_like(reward[spent], UNSAFE))
    assert torch.allclose(reward[~spent], 1 + rollout[keys.ACTION].clamp(-1, 1)[~spent])


def test_other_algorithms_keep_the_task_observation():
    plain = resolve(TrainConfig(algo="trpo-lag", env="ToyCMDP-v0", steps=200, steps_per_epoch=200))
    saute = resolve(TrainConfig(algo="trpo-saute", env="ToyCMDP-v0", steps=200, steps_per_epoch=200))
    assert env_dimensions(plain) == (2, 1, 2)
    assert env_dimensions(saute) == (3, 1, 2)  # the policy sees z, the normaliser the simulator's observation


@pytest.mark.parametrize("algo", ["trpo-saute", "ppo-saute"])
def test_a_saute_checkpoint_reloads_and_evaluates_with_its_safety_state(tmp_path, algo):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--algo", algo, *TINY, "--out", str(out), "--cost-limit", "10",
                                 "--set", "critic.update_iters=2", "--set", "unsafe_reward=-0.2"])
    assert result.exit_code == 0, result.output
    module = load_module(out / "checkpoints" / "last.ckpt")
    assert module.policy.mean[0].in_features == 3 and module.obs_normalizer.mean.shape == (2,)
    assert module.algorithm.config.unsafe_reward == -0.2
    assert run_episodes(module, episodes=3, num_envs=3).lengths.tolist() == [20.0] * 3
    assert len(attack_sweep(module, [0.0, 1.0], episodes=2, seed=0, num_envs=2)) == 4
    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "2"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("algo", ["trpo-saute", "ppo-saute"])
def test_cost_limit_zero_is_refused_in_one_line(tmp_path, algo):
    result = runner.invoke(app, ["train", "--algo", algo, *TINY, "--cost-limit", "0", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "Saute needs a cost limit > 0" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="saute_gamma must lie in"):
        apply_settings(TrainConfig(algo=algo, env="ToyCMDP-v0", steps=200, steps_per_epoch=200),
                       {"saute_gamma": 1.5})


def test_a_saute_checkpoint_renders_the_episode_evaluation_plays(tmp_path):
    from shapo_rl.evaluation.video import VideoError, choose_backend

    try:
        choose_backend()
    except VideoError as err:
        pytest.skip(str(err))
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--algo", "trpo-saute", "--env", "SafetyHopperVelocity-v1", "--steps", "200",
                                 "--steps-per-epoch", "200", "--num-envs", "1", "--no-progress", "--out", str(out),
                                 "--set", "critic.update_iters=1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(out), "--episodes", "1", "--video", str(tmp_path / "video")])
    assert result.exit_code == 0, result.output
    import imageio.v2 as imageio

    with open(out / "evaluation.csv") as f:
        length = int(float(next(csv.DictReader(f))["length"]))
    assert imageio.get_reader(tmp_path / "video" / "run" / "episode000.mp4").count_frames() == length + 1
