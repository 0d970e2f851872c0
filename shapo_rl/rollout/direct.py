"""The thin rollout hot path: one epoch of a simulator batch written into preallocated tensors.

:class:`RolloutCollector` steps an env stack through TorchRL's ``TransformedEnv._step`` and
``_reset``: per step a TensorDict from the simulator batch, one call per transform, the merge
into the step's TensorDict, and a stack of all steps at the end. For the stack ``make_env``
builds around a :class:`SimulatorBatch` (falls as cost, the action clip, the raw observation's
copy, the observation normaliser and the episode counters, nothing else) :class:`DirectRollout`
does the same arithmetic itself: it calls the batch's :meth:`~SimulatorBatch.step_arrays` and
:meth:`~SimulatorBatch.reset_rows`, the normaliser's ``update`` and ``normalize`` in the
transform's order (a step's observations, then the first observations of the envs reset after
it), and the policy's ``sample``, and writes each result into its slot of one ``[num_envs, T]``
TensorDict with the keys, dtypes and layout of the stacked one. What a transform computes is
repeated with the same float operations on the same operands, so the rollout, the normaliser's
statistics and the random numbers drawn equal the TransformedEnv path's bit for bit (tests
compare both on Hopper, Walker2d and PointGoal1, with raw observations and without a
normaliser). Any other stack (an algorithm's transforms, the toy CMDP, a user env) is stepped
the TorchRL way.
"""

from __future__ import annotations

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.envs import EnvBase, RenameTransform, TransformedEnv

from shapo_rl import keys
from shapo_rl.envs.action_clip import ClipAction
from shapo_rl.envs.batch import SimulatorBatch
from shapo_rl.envs.counters import EpisodeCounters
from shapo_rl.envs.fall_cost import FallCost
from shapo_rl.envs.normalizer import ObservationNormalizer
from shapo_rl.models import GaussianPolicy

COUNTERS = (keys.EPISODE_RETURN, keys.EPISODE_COST, keys.EPISODE_LENGTH)


def _is_raw_copy(transform) -> bool:  # type: ignore[no-untyped-def]
    return (isinstance(transform, RenameTransform) and transform.create_copy
            and list(transform.in_keys) == [keys.OBSERVATION] and list(transform.out_keys) == [keys.RAW_OBSERVATION])


def _stack_layout(env: EnvBase) -> dict | None:
    """The parts of ``env``'s stack when it is exactly one ``make_env`` builds around a
    :class:`SimulatorBatch` (with no algorithm transform), else None."""
    if not isinstance(env, TransformedEnv) or type(env.base_env) is not SimulatorBatch:
        return None
    if env.base_env.device != torch.device("cpu"):
        return None
    transforms = list(env.transform)
    layout = {"fall_cost": False, "raw_copy": False, "normalizer": None}
    if transforms and type(transforms[0]) is FallCost:
        layout["fall_cost"] = True
        transforms.pop(0)
    if not transforms or type(transforms.pop(0)) is not ClipAction:
        return None
    if transforms and _is_raw_copy(transforms[0]):
        layout["raw_copy"] = True
        transforms.pop(0)
    if transforms and type(transforms[0]) is ObservationNormalizer and transforms[0].in_keys == [keys.OBSERVATION]:
        layout["normalizer"] = transforms.pop(0)
    if layout["raw_copy"] and layout["normalizer"] is None:
        return None
    counters = transforms.pop(0) if transforms else None
    if type(counters) is not EpisodeCounters or counters.in_keys != [keys.REWARD, keys.COST] or transforms:
        return None
    return layout


class DirectRollout:
    """Rollouts of a ``make_env`` stack over a :class:`SimulatorBatch`, stepped without TorchRL's
    per-step machinery; :meth:`of` builds one for a stack it knows, else returns None."""

    def __init__(self, batch: SimulatorBatch, *, fall_cost: bool, raw_copy: bool,
                 normalizer: ObservationNormalizer | None) -> None:
        self.batch = batch
        self.fall_cost = fall_cost
        self.raw_copy = raw_copy
        self.normalizer = normalizer
        space = batch.action_spec.space
        self._low, self._high = space.low.to(torch.float32), space.high.to(torch.float32)

    @classmethod
    def of(cls, env: EnvBase) -> DirectRollout | None:
        layout = _stack_layout(env)
        return None if layout is None else cls(env.base_env, **layout)

    def _observe(self, raw: torch.Tensor) -> torch.Tensor:
        """The normaliser's transform of a step's or a reset's observations (update, then normalise)."""
        if self.normalizer is None:
            return raw
        if not self.normalizer.frozen:
            self.normalizer.update(raw)
        return self.normalizer.normalize(raw)

    @torch.no_grad()
    def rollout(self, policy: GaussianPolicy, steps: int) -> TensorDict:
        """``steps`` steps of every env from a full reset, the envs whose episode ended reset after
        each step but the last: the TensorDict the TransformedEnv path stacks."""
        batch, n = self.batch, self.batch.batch_size[0]
        policy_device = next(policy.parameters()).device
        obs_shape = batch.observation_spec[keys.OBSERVATION].shape[1:]
        act_shape = batch.action_spec.shape[1:]
        column = (n, steps, 1)
        root = {keys.OBSERVATION: torch.empty(n, steps, *obs_shape), keys.ACTION: torch.empty(n, steps, *act_shape),
                keys.LOC: torch.empty(n, steps, *act_shape), keys.SCALE: torch.empty(n, steps, *act_shape),
                keys.ACTION_LOG_PROB: torch.empty(n, steps), keys.COST: torch.empty(column),
                **{key: torch.empty(column) for key in COUNTERS},
                **{key: torch.zeros(column, dtype=torch.bool) for key in (keys.DONE, keys.TERMINATED, keys.TRUNCATED)}}
        following = {keys.OBSERVATION: torch.empty(n, steps, *obs_shape), keys.REWARD: torch.empty(column),
                     keys.COST: torch.empty(column), **{key: torch.empty(column) for key in COUNTERS},
                     **{key: torch.empty(column, dtype=torch.bool)
                        for key in (keys.DONE, keys.TERMINATED, keys.TRUNCATED)}}
        if self.raw_copy:
            root[keys.RAW_OBSERVATION] = torch.empty(n, steps, *obs_shape)
            following[keys.RAW_OBSERVATION] = torch.empty(n, steps, *obs_shape)
        raw = torch.from_numpy(batch.reset_rows(np.arange(n)))
        obs = self._observe(raw)
        zeros = torch.zeros(n, 1)
        cost, counters = zeros, dict.fromkeys(COUNTERS, zeros)
        for t in range(steps):
            root[keys.OBSERVATION][:, t] = obs
            if self.raw_copy:
                root[keys.RAW_OBSERVATION][:, t] = raw
            root[keys.COST][:, t] = cost
            for key, value in counters.items():
                root[key][:, t] = value
            action, log_prob, loc, scale = (value.cpu() for value in policy.sample(obs.to(policy_device)))
            for key, value in ((keys.ACTION, action), (keys.ACTION_LOG_PROB, log_prob), (keys.LOC, loc),
                               (keys.SCALE, scale)):
                root[key][:, t] = value
            clipped = torch.maximum(torch.minimum(action, self._high), self._low)  # ClipAction's inverse
            raw_next, reward, step_cost, terminated, truncated = batch.step_arrays(clipped.numpy())
            raw = torch.from_numpy(raw_next)
            terminated = torch.from_numpy(terminated).unsqueeze(-1)
            truncated = torch.from_numpy(truncated).unsqueeze(-1)
            done = terminated | truncated
            reward = torch.from_numpy(reward).unsqueeze(-1)
            cost = terminated.to(torch.float32) if self.fall_cost else torch.from_numpy(step_cost).unsqueeze(-1)
            obs = self._observe(raw)
            counters = {keys.EPISODE_RETURN: counters[keys.EPISODE_RETURN] + reward.to(torch.float32),
                        keys.EPISODE_COST: counters[keys.EPISODE_COST] + cost.to(torch.float32),
                        keys.EPISODE_LENGTH: counters[keys.EPISODE_LENGTH] + torch.ones_like(cost)}
            for key, value in ((keys.OBSERVATION, obs), (keys.REWARD, reward), (keys.COST, cost), (keys.DONE, done),
                               (keys.TERMINATED, terminated), (keys.TRUNCATED, truncated), *counters.items()):
                following[key][:, t] = value
            if self.raw_copy:
                following[keys.RAW_OBSERVATION][:, t] = raw
            if t + 1 < steps and done.any():
                obs, raw, cost, counters = self._reset_done(done, obs, raw, cost, counters)
        return TensorDict({**root, "next": TensorDict(following, batch_size=(n, steps))},
                          batch_size=(n, steps), device=batch.device)

    def _reset_done(self, done: torch.Tensor, obs: torch.Tensor, raw: torch.Tensor, cost: torch.Tensor,
                    counters: dict[str, torch.Tensor]) -> tuple:
        """The next step's inputs with the rows of ``done`` reset: new first observations
        (normalised after the normaliser took them in), zero cost and counters."""
        rows = done.reshape(-1)
        fresh = torch.from_numpy(self.batch.reset_rows(np.flatnonzero(rows.numpy())))
        obs, raw = obs.clone(), raw.clone()
        obs[rows] = self._observe(fresh)
        raw[rows] = fresh
        counters = {key: value.masked_fill(done, 0.0) for key, value in counters.items()}
        return obs, raw, cost.masked_fill(done, 0.0), counters
