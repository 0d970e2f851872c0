"""Play evaluation episodes with a trained policy, optionally under a random-action attack.

Random-action attack (robustness figures of both papers, ALGORITHMS.md section 5): at every
step, with probability alpha, the policy's action is replaced by one drawn uniformly from the
action box. alpha = 0 leaves every action as the policy chose it; alpha = 1 is a uniformly
random policy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs import ExplorationType, set_exploration_type

from shapo_rl import keys
from shapo_rl.algorithms.registry import make_run_env
from shapo_rl.envs import ObservationNormalizer


class RandomActionAttack(TensorDictModuleBase):
    """With probability ``alpha`` per env and step, overwrite ``"action"`` with U(low, high).

    It draws from its own generator, so the env and the policy see the same random numbers
    whatever alpha is (the same seed gives the same episodes at alpha = 0 as without attack).
    """

    def __init__(self, alpha: float, low: torch.Tensor, high: torch.Tensor, generator: torch.Generator):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"attack rate must lie in [0, 1], got {alpha}")
        self.alpha, self.low, self.high, self.generator = alpha, low, high, generator
        self.in_keys, self.out_keys = [keys.ACTION], [keys.ACTION]

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        action = td[keys.ACTION]
        hit = torch.rand(action.shape[:-1] + (1,), generator=self.generator) < self.alpha
        noise = self.low + (self.high - self.low) * torch.rand(action.shape, generator=self.generator)
        td[keys.ACTION] = torch.where(hit, noise.to(action.dtype), action)
        return td


@dataclass(frozen=True)
class EvaluationResult:
    """Per-episode return, cost and length, ordered by env then by episode within the env."""

    returns: torch.Tensor
    costs: torch.Tensor
    lengths: torch.Tensor


def episode_quotas(episodes: int, num_envs: int) -> list[int]:
    """How many episodes each env contributes: ``episodes`` shared as evenly as possible.

    Each env's first episodes are kept, never the first ``episodes`` to finish, which would
    over-represent short episodes (a hopper that falls early ends its episode first).
    """
    return [episodes // num_envs + (i < episodes % num_envs) for i in range(num_envs)]


def frozen_normalizer(module) -> ObservationNormalizer | None:
    """A frozen copy of ``module``'s observation normaliser (None without one): evaluation never
    moves the statistics."""
    if module.obs_normalizer is None:
        return None
    normalizer = copy.deepcopy(module.obs_normalizer)
    normalizer.frozen = True
    return normalizer


@torch.no_grad()
def run_episodes(module, *, episodes: int, seed: int = 10_000, num_envs: int = 8, deterministic: bool = True,
                 attack_rate: float | None = None) -> EvaluationResult:
    """Play ``episodes`` full episodes with ``module``'s policy and its frozen obs statistics, in
    ``num_envs`` envs stepped as one batch (as in training), under a random-action attack of rate
    ``attack_rate`` when given. ``seed`` seeds the envs, the attack and the sampling of stochastic
    actions (torch's global generator is restored afterwards).

    ``module`` is a trained module as :func:`shapo_rl.evaluation.load_module` returns it; only its
    ``config`` (the run's env, with its algorithm's env transforms), ``obs_normalizer`` and
    ``make_collection_policy()`` are used. The policy runs on one torch thread, as in training
    (the caller's thread count is restored): a 64x64 MLP on a batch of envs is fastest on one,
    and more threads measured 2.4 ms instead of about 0.1 ms per call on a busy 2-core machine.
    """
    if episodes <= 0:
        raise ValueError(f"number of episodes must be > 0, got {episodes}")
    config = module.config
    num_envs = min(num_envs, episodes)
    quotas = torch.tensor(episode_quotas(episodes, num_envs))
    env = make_run_env(config, num_envs=num_envs, seed=seed, obs_normalizer=frozen_normalizer(module))
    policy = module.make_collection_policy()
    attack = None
    if attack_rate is not None:
        space = env.action_spec.space
        attack = RandomActionAttack(attack_rate, space.low, space.high, torch.Generator().manual_seed(seed))
    mode = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    found: list[list[tuple[float, float, float]]] = [[] for _ in range(num_envs)]
    done_count = torch.zeros(num_envs, dtype=torch.long)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(), set_exploration_type(mode):
            torch.manual_seed(seed)  # stochastic actions: the same seed samples the same actions
            td = env.reset()
            while bool((done_count < quotas).any()):
                td = policy(td)
                if attack is not None:
                    td = attack(td)
                td, next_td = env.step_and_maybe_reset(td)
                done = td["next", keys.DONE].reshape(num_envs)
                nxt = td["next"]
                for i in done.nonzero().flatten().tolist():
                    if done_count[i] < quotas[i]:
                        found[i].append(tuple(float(nxt[key][i]) for key in (
                            keys.EPISODE_RETURN, keys.EPISODE_COST, keys.EPISODE_LENGTH)))
                done_count += done.long()
                td = next_td
    finally:
        torch.set_num_threads(threads)
        env.close()
    rows = torch.tensor([row for env_rows in found for row in env_rows], dtype=torch.float64)
    return EvaluationResult(rows[:, 0], rows[:, 1], rows[:, 2])
