"""ToyCMDP: formulas, horizon, optimum, seeding, action clipping, episode counters."""

from __future__ import annotations

import math

import pytest
import torch

from shapo_rl import keys
from shapo_rl.envs import make_env, toy_cmdp_optimum


def _constant_policy(value: float):  # type: ignore[no-untyped-def]
    def policy(td):  # type: ignore[no-untyped-def]
        return td.set(keys.ACTION, torch.full((*td.batch_size, 1), value))

    return policy


@pytest.mark.parametrize(
    ("action", "reward", "cost"),
    [(0.0, 1.0, 1.0), (1.0, 2.0, 4.0), (-1.0, 0.0, 0.0), (0.5, 1.5, 2.25), (3.0, 2.0, 4.0)],
)
def test_reward_and_cost_formulas(action: float, reward: float, cost: float) -> None:
    env = make_env("ToyCMDP-v0", num_envs=2)
    td = env.rollout(3, _constant_policy(action))
    assert torch.allclose(td["next", keys.REWARD], torch.full((2, 3, 1), reward))
    assert torch.allclose(td["next", keys.COST], torch.full((2, 3, 1), cost))


def test_truncation_at_horizon_and_episode_counters() -> None:
    env = make_env("ToyCMDP-v0", num_envs=3, normalize_obs=False)
    td = env.rollout(45, _constant_policy(0.0), break_when_any_done=False)
    nxt = td["next"]
    done = nxt[keys.DONE].squeeze(-1)
    assert done[:, [19, 39]].all() and done.sum() == 3 * 2
    assert nxt[keys.TRUNCATED].squeeze(-1)[:, 19].all() and not nxt[keys.TERMINATED].any()
    assert torch.allclose(td[keys.OBSERVATION][0, :21, 0], torch.tensor([*range(20), 0]) / 20)
    # Counters include the current step, match the sums, and restart after done.
    first = slice(0, 20)
    assert torch.allclose(nxt[keys.EPISODE_RETURN][:, 19], nxt[keys.REWARD][:, first].sum(1))
    assert torch.allclose(nxt[keys.EPISODE_COST][:, 19], nxt[keys.COST][:, first].sum(1))
    assert (nxt[keys.EPISODE_LENGTH][:, 19] == 20).all()
    assert (nxt[keys.EPISODE_LENGTH][:, 20] == 1).all()
    assert torch.allclose(nxt[keys.EPISODE_RETURN][:, 20], nxt[keys.REWARD][:, 20])
    # At a* = 0 the finished episode has the optimum's return and cost.
    ret, cost, _ = toy_cmdp_optimum(20.0)
    assert torch.allclose(nxt[keys.EPISODE_RETURN][:, 39], torch.tensor(ret))
    assert torch.allclose(nxt[keys.EPISODE_COST][:, 39], torch.tensor(cost))


def test_counters_restart_only_for_reset_envs() -> None:
    env = make_env("ToyCMDP-v0", num_envs=2, normalize_obs=False)
    td = env.reset()
    for _ in range(3):
        _, td = env.step_and_maybe_reset(env.rand_action(td))
    td.set("_reset", torch.tensor([[True], [False]]))
    td = env.reset(td)
    assert td[keys.EPISODE_LENGTH].squeeze(-1).tolist() == [0.0, 3.0]
    assert torch.allclose(td[keys.OBSERVATION][:, 0], torch.tensor([0.0, 3 / 20]))


def test_optimum() -> None:
    assert toy_cmdp_optimum(20.0) == pytest.approx((20.0, 20.0, 0.5))
    assert toy_cmdp_optimum(80.0) == pytest.approx((40.0, 80.0, 0.0))
    assert toy_cmdp_optimum(1000.0) == pytest.approx((40.0, 80.0, 0.0))
    a = math.sqrt(5 / 20) - 1  # d = 5
    assert toy_cmdp_optimum(5.0) == pytest.approx((20 * (1 + a), 5.0, 1 / (2 * (1 + a))))
    assert toy_cmdp_optimum(5.0) == pytest.approx((10.0, 5.0, 1.0))


def test_same_seed_same_rollout_other_seed_differs() -> None:
    def run(seed: int) -> torch.Tensor:
        env = make_env("ToyCMDP-v0", num_envs=2, seed=seed)
        torch.manual_seed(0)
        return env.rollout(30, break_when_any_done=False)[keys.OBSERVATION]

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_gym_seeding_is_per_env_and_reproducible() -> None:
    def run(seed: int) -> torch.Tensor:
        env = make_env("HalfCheetah-v4", num_envs=2, seed=seed, normalize_obs=False)
        return env.reset()[keys.OBSERVATION]

    a = run(0)
    assert torch.equal(a, run(0)) and not torch.equal(a, run(1))
    assert not torch.equal(a[0], a[1])


def test_action_is_clipped_for_the_simulator_but_kept_in_the_rollout() -> None:
    env = make_env("ToyCMDP-v0", num_envs=2)
    td = env.reset()
    td[keys.ACTION] = torch.tensor([[3.0], [-5.0]])
    out = env.step(td)
    assert out[keys.ACTION].tolist() == [[3.0], [-5.0]]
    assert out["next", keys.REWARD].tolist() == [[2.0], [0.0]]  # as for a = 1 and a = -1
    assert out["next", keys.COST].tolist() == [[4.0], [0.0]]
