"""Falls-as-cost on MuJoCo: cost 1 exactly on the unhealthy termination, 0 on truncation."""

from __future__ import annotations

import torch

from shapo_rl import keys
from shapo_rl.envs import make_env


def test_fall_costs_one_exactly_on_the_terminating_step() -> None:
    env = make_env("Walker2d-v4", num_envs=1, seed=0, normalize_obs=False)
    td = env.reset()
    costs, terminated = [], []
    for _ in range(300):
        td[keys.ACTION] = torch.ones(1, 6)  # every joint at full torque: the walker falls
        td = env.step(td)
        costs.append(td["next", keys.COST].item())
        terminated.append(td["next", keys.TERMINATED].item())
        if terminated[-1]:
            break
        td = td["next"]
    assert terminated[-1], "the walker did not fall"
    assert costs[-1] == 1.0 and all(c == 0.0 for c in costs[:-1])
    assert td["next", keys.EPISODE_COST].item() == 1.0
    env.close()


def test_truncation_costs_nothing() -> None:
    env = make_env("HalfCheetah-v4", num_envs=2, seed=0, max_episode_steps=10)
    td = env.rollout(10, break_when_any_done=False)
    assert td["next", keys.TRUNCATED][:, -1].all()
    assert not td["next", keys.TERMINATED].any()
    assert (td["next", keys.COST] == 0).all()
    env.close()
