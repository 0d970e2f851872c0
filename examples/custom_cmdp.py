"""A user's own CMDP: `shapo-rl train --algo trpo-lag --env examples.custom_cmdp:make_env --out runs/line`."""
import gymnasium
import numpy as np
from gymnasium.envs.registration import EnvSpec


class HazardLine(gymnasium.Env):
    """Walk along a line towards x = 1 (reward -|1 - x|); each step beyond x = 0.5 costs 1."""

    spec = EnvSpec("HazardLine-v0", max_episode_steps=100)  # the episode length shapo-rl uses
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x = self.np_random.uniform(-1.0, 0.0)
        return np.array([self.x, 1.0 - self.x]), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.1 * action[0], -2.0, 2.0))
        info = {"cost": float(self.x > 0.5)}  # or return (obs, reward, cost, terminated, truncated, info)
        return np.array([self.x, 1.0 - self.x]), -abs(1.0 - self.x), False, False, info


def make_env():
    return HazardLine()
