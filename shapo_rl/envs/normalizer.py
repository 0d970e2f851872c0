"""Running mean/variance observation normalisation whose statistics live in a state_dict.

TorchRL 0.14.1's ``VecNormV2`` was considered and not used: it keeps its statistics in
TensorDicts behind ``get_extra_state`` rather than in buffers, creates them lazily from the
parent env (a fresh instance cannot load a checkpoint before it is attached), decays them
exponentially by default, takes a multiprocessing lock on every step, warns that batched
containers are experimental, and does not clip. This transform is the small subset needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tensordict import TensorDictBase
from torchrl.data import TensorSpec, Unbounded
from torchrl.envs import EnvBase, Transform, TransformedEnv

from shapo_rl import keys


def merge_moments(count: torch.Tensor, mean: torch.Tensor, m2: torch.Tensor, n: torch.Tensor,
                  batch_mean: torch.Tensor, batch_m2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Count, mean and M2 (sum of squared deviations) of two sets of observations together, from
    each set's own (Chan et al.'s parallel update)."""
    total = count + n
    delta = batch_mean - mean
    return total, mean + delta * n / total, m2 + (batch_m2 + delta**2 * count * n / total)


class ObservationNormalizer(Transform):
    """Normalise ``"observation"`` to ``clip((x - mean) / std, -clip, clip)`` with
    ``std = max(sqrt(var + eps), std_floor)`` (``clip=None``: not clipped).

    Defaults: clip 10, no floor, no prior. The reference library clips at 5 and floors the std at 1e-2, which
    matters for near-constant inputs (SafetyPointGoal1-v0 has lidar bins with std ~1e-3, which
    sqrt(var + eps) would blow up a thousandfold).

    Statistics are the exact running mean and population variance of every observation seen
    (Chan et al.'s parallel Welford update, in float64), starting from ``prior_count``
    pseudo-observations of mean 0 and variance 1. With ``clip=None``, ``std_floor=0`` and
    ``prior_count=1e-4`` this is gymnasium's ``NormalizeObservation`` (its ``RunningMeanStd``
    starts at count 1e-4, mean 0, variance 1 and divides by sqrt(var + 1e-8)). Kept in the buffers ``count``,
    ``mean`` and ``m2`` so they travel in ``state_dict``. They update while ``frozen`` is
    False; set ``frozen = True`` for evaluation.
    """

    count: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor

    def __init__(
        self,
        shape: int | Sequence[int] | None = None,
        *,
        key: str = keys.OBSERVATION,
        clip: float | None = 10.0,
        eps: float = 1e-8,
        std_floor: float = 0.0,
        prior_count: float = 0.0,
    ) -> None:
        super().__init__(in_keys=[key], out_keys=[key])
        if prior_count < 0:
            raise ValueError(f"prior_count must be >= 0, got {prior_count}")
        self.clip = clip
        self.eps = eps
        self.std_floor = std_floor
        self.prior_count = float(prior_count)
        self.frozen = False
        size = () if shape is None else torch.Size([shape] if isinstance(shape, int) else shape)
        self.register_buffer("count", torch.full((), self.prior_count, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("m2", torch.full(size, self.prior_count, dtype=torch.float64))  # variance 1
        self._initialized = shape is not None

    @property
    def var(self) -> torch.Tensor:
        """Population variance of the observations seen (ones before the first update)."""
        if self.count == 0:
            return torch.ones_like(self.m2)
        return self.m2 / self.count

    def _lazy_init(self, shape: torch.Size) -> None:
        if not self._initialized:
            self.mean = torch.zeros(shape, dtype=torch.float64, device=self.mean.device)
            self.m2 = torch.full(shape, self.prior_count, dtype=torch.float64, device=self.m2.device)
            self._initialized = True

    def update(self, x: torch.Tensor) -> None:
        """Fold a batch ``x`` of shape ``[..., *obs_shape]`` into the running statistics.

        On the CPU the arithmetic runs in numpy on views of the buffers (a step's dozen small
        float64 operations cost a few microseconds each there, against about ten in torch), with
        the same IEEE operations in the same order; the column sums stay torch's, whose
        summation order numpy's does not repeat."""
        self._lazy_init(x.shape[-1:])  # unknown shape: assume a flat observation vector
        if x.device.type == "cpu":
            self._update_in_numpy(x.detach().numpy().astype(np.float64).reshape(-1, *self.mean.shape))
            return
        batch = x.detach().to(torch.float64).reshape(-1, *self.mean.shape)
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(0)
        for buffer, value in zip((self.count, self.mean, self.m2),
                                 merge_moments(self.count, self.mean, self.m2, n, batch_mean, batch_m2)):
            buffer.copy_(value)

    def _update_in_numpy(self, batch: np.ndarray) -> None:
        """:meth:`update`'s arithmetic on a float64 ``[n, *obs_shape]`` array, written into views of
        the buffers."""
        n = batch.shape[0]
        if n == 0:
            return
        views = count, mean, m2 = self.count.numpy(), self.mean.numpy(), self.m2.numpy()
        batch_mean = np.add.reduce(batch, 0) / n  # numpy's and torch's mean alike
        batch_m2 = torch.from_numpy((batch - batch_mean) ** 2).sum(0).numpy()
        for view, value in zip(views, merge_moments(count, mean, m2, n, batch_mean, batch_m2)):
            view[...] = value

    @property
    def std(self) -> torch.Tensor:
        std = torch.sqrt(self.var + self.eps)
        return std.clamp_min(self.std_floor) if self.std_floor > 0 else std

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the current statistics (no update); in numpy on the CPU, as
        :meth:`update`, with the same operations."""
        if x.device.type != "cpu" or x.requires_grad:
            out = (x.to(torch.float64) - self.mean) / self.std
            return (out if self.clip is None else out.clamp(-self.clip, self.clip)).to(torch.float32)
        count, mean, m2 = self.count.numpy(), self.mean.numpy(), self.m2.numpy()
        std = np.sqrt((m2 / count if count != 0 else np.ones_like(m2)) + self.eps)
        if self.std_floor > 0:
            std = np.maximum(std, self.std_floor)
        out = (x.numpy().astype(np.float64) - mean) / std
        if self.clip is not None:  # np.minimum(np.maximum(...)) is torch's clamp (NaN kept) at a fifth of np.clip's cost
            out = np.minimum(np.maximum(out, -self.clip), self.clip)
        return torch.from_numpy(out.astype(np.float32))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """The raw observation behind a normalised one, ``x std + mean`` (exact unless it was clipped)."""
        return (x.to(torch.float64) * self.std + self.mean).to(torch.float32)

    def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.frozen:
            self.update(obs)
        return self.normalize(obs)

    def _reset(
        self, tensordict: TensorDictBase, tensordict_reset: TensorDictBase
    ) -> TensorDictBase:
        # On a partial reset only the rows that were reset carry new observations.
        key = self.in_keys[0]
        obs = tensordict_reset.get(key)
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if not self.frozen:
            self.update(obs if mask is None else obs[mask.reshape(obs.shape[: mask.ndim - 1])])
        tensordict_reset.set(key, self.normalize(obs))
        return tensordict_reset

    def transform_observation_spec(self, observation_spec: TensorSpec) -> TensorSpec:
        spec = observation_spec[self.in_keys[0]]
        self._lazy_init(spec.shape[len(observation_spec.shape) :])
        observation_spec[self.out_keys[0]] = Unbounded(
            shape=spec.shape, dtype=torch.float32, device=spec.device
        )
        return observation_spec

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # A normaliser built before its env knows no shape yet: take the checkpoint's.
        for name in ("mean", "m2"):
            saved = state_dict.get(prefix + name)
            if saved is not None and saved.shape != getattr(self, name).shape:
                setattr(self, name, torch.zeros_like(saved, dtype=torch.float64))
                self._initialized = True
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def find_observation_normalizer(env: EnvBase) -> ObservationNormalizer | None:
    """Return the :class:`ObservationNormalizer` of a :class:`TransformedEnv`, if any."""
    while isinstance(env, TransformedEnv):
        for transform in env.transform.modules():
            if isinstance(transform, ObservationNormalizer):
                return transform
        env = env.base_env
    return None
