"""On-policy rollouts of a batched env stack, with a fraction of TorchRL's per-step cost.

``RolloutCollector`` yields what TorchRL's ``Collector(env, ProbabilisticActor(...),
reset_at_each_iter=True)`` yields for this project's env stacks, bit for bit (tests compare
them, rollouts and observation statistics): every rollout starts from freshly reset envs, runs ``frames_per_batch / num_envs`` steps of
the Gaussian policy, auto-resets the envs whose episode ended, and returns a ``[num_envs, T]``
TensorDict with the root keys and ``("next", ...)``.

Why not TorchRL's collector: around the simulator it spends its time on per-step bookkeeping
(spec handling in ``EnvBase.step``, ``step_mdp``, ``maybe_reset``, the TensorDict policy, buffer
writes). This loop keeps what defines the data -- the env stack's own ``_step`` and ``_reset``
(inverse and forward transforms, the simulator batch) and the policy's distribution -- and drops
the rest. It also skips TorchRL's auto-reset after the last step, whose observations nobody uses (the
next rollout resets every env; a SafetyPointGoal1 reset costs about two episodes of steps), so
those observations do not enter the normaliser's statistics either.
Measured on SafetyHopperVelocity-v1, 20 envs x 1,000 steps, the two alternated in one process:
TorchRL's collector 1,720-1,810 steps/s, this one 1,800-2,100; the 20,000 simulator steps
alone take about 5.8 s of this one's ~10 s.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.envs import EnvBase

from shapo_rl import keys
from shapo_rl.models import GaussianPolicy
from shapo_rl.rollout.direct import DirectRollout


class RolloutCollector:
    """Rollouts of ``frames_per_batch`` steps from ``env`` (batch size ``[num_envs]``) by ``policy``.

    Each step samples ``a ~ pi(.|s)`` with its reparametrised sample (as TorchRL's actor does in
    random exploration mode) and stores ``action``, ``action_log_prob``, ``loc`` and ``scale``
    with the step, so that the update can take KL(pi_old || pi_theta) exactly. A stack
    :class:`DirectRollout` knows is stepped by it (the same data, without TorchRL's per-step
    calls) unless ``direct`` is False.
    """

    def __init__(self, env: EnvBase, policy: GaussianPolicy, frames_per_batch: int, *, direct: bool = True):
        num_envs = env.batch_size.numel()
        if frames_per_batch <= 0 or frames_per_batch % num_envs:
            raise ValueError(f"frames_per_batch ({frames_per_batch}) must be a positive multiple of the "
                             f"number of envs ({num_envs})")
        self.env = env
        self.policy = policy
        self.steps = frames_per_batch // num_envs
        self.direct = DirectRollout.of(env) if direct else None

    def set_seed(self, seed: int) -> None:
        """Seed the envs of the next rollout (each env its own seed derived from ``seed``)."""
        self.env.set_seed(seed)

    def __iter__(self) -> Iterator[TensorDictBase]:
        while True:
            yield self.rollout()

    @torch.no_grad()
    def rollout(self) -> TensorDictBase:
        if self.direct is not None:
            return self.direct.rollout(self.policy, self.steps)
        env, policy = self.env, self.policy
        policy_device = next(policy.parameters()).device
        current = env.reset()
        steps = []
        for t in range(self.steps):
            action, log_prob, loc, scale = policy.sample(current[keys.OBSERVATION].to(policy_device))
            sampled = {keys.LOC: loc, keys.SCALE: scale, keys.ACTION: action, keys.ACTION_LOG_PROB: log_prob}
            current.update({key: value.to(env.device) for key, value in sampled.items()})
            following = env._step(current)
            current.set("next", following)
            steps.append(current)
            if t + 1 == self.steps:
                break
            current = following.exclude(keys.REWARD)
            done = following[keys.DONE]
            if done.any():
                current = self._reset_done(current, done)
        return torch.stack(steps, dim=1)

    def _reset_done(self, current: TensorDictBase, done: torch.Tensor) -> TensorDictBase:
        """``current`` with the rows of ``done`` replaced by freshly reset envs."""
        reset = self.env._reset(TensorDict({"_reset": done}, batch_size=current.batch_size))
        for key, value in reset.items():
            rows = done.reshape(*done.shape[:1], *[1] * (value.dim() - 1))
            current.set(key, torch.where(rows, value, current[key]))
        return current

    def shutdown(self) -> None:
        self.env.close(raise_if_closed=False)
