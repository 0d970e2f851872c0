"""ObservationNormalizer: exact running statistics, freezing, clipping, state_dict."""

from __future__ import annotations

import numpy as np
import torch

from shapo_rl import keys
from shapo_rl.envs import ObservationNormalizer, find_observation_normalizer, make_env


def test_statistics_match_numpy() -> None:
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(50, 7, 3, generator=gen) * torch.tensor([1.0, 5.0, 0.1]) + 3.0
    norm = ObservationNormalizer(3)
    for batch in data:
        norm.update(batch)
    flat = data.reshape(-1, 3).double().numpy()
    assert norm.count.item() == 350
    np.testing.assert_allclose(norm.mean.numpy(), flat.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), flat.var(0), rtol=1e-10)
    out = norm.normalize(data[0])
    expected = (data[0].double() - flat.mean(0)) / np.sqrt(flat.var(0) + norm.eps)
    np.testing.assert_allclose(out.numpy(), expected.float().numpy(), rtol=1e-5)


def test_clipping() -> None:
    norm = ObservationNormalizer(1, clip=2.0)
    norm.update(torch.tensor([[0.0], [1.0]]))
    assert norm.normalize(torch.tensor([[100.0], [-100.0]])).tolist() == [[2.0], [-2.0]]


def test_env_updates_until_frozen_and_uses_the_given_instance() -> None:
    norm = ObservationNormalizer()
    env = make_env("ToyCMDP-v0", num_envs=4, obs_normalizer=norm)
    assert find_observation_normalizer(env) is norm
    env.rollout(5, break_when_any_done=False)
    assert norm.count.item() == 4 * 6  # reset plus five steps
    norm.frozen = True
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    env.rollout(5, break_when_any_done=False)
    assert all(torch.equal(before[k], v) for k, v in norm.state_dict().items())


def test_state_dict_round_trip_into_an_unshaped_normaliser() -> None:
    env = make_env("ToyCMDP-v0", num_envs=2)
    env.rollout(5)
    state = find_observation_normalizer(env).state_dict()  # type: ignore[union-attr]
    assert set(state) == {"count", "mean", "m2"}
    fresh = ObservationNormalizer()
    fresh.load_state_dict(state)
    assert all(torch.equal(state[k], v) for k, v in fresh.state_dict().items())
    obs = torch.rand(3, 2)
    restored = make_env("ToyCMDP-v0", num_envs=2, obs_normalizer=fresh)
    assert find_observation_normalizer(restored) is fresh
    assert torch.equal(fresh.normalize(obs), find_observation_normalizer(env).normalize(obs))  # type: ignore[union-attr]
    assert restored.reset()[keys.OBSERVATION].dtype == torch.float32


def _torch_reference(batches, eps, floor, clip):
    """The normaliser's definition in float64 torch operations: Chan et al.'s merge of each batch's
    mean and M2 into the running ones, then clip((x - mean) / max(sqrt(M2 / n + eps), floor))."""
    count, mean, m2 = torch.zeros((), dtype=torch.float64), 0.0, 0.0
    outs = []
    for x in batches:
        b = x.to(torch.float64)
        n = b.shape[0]
        if n:
            bm = b.mean(0)
            bm2 = ((b - bm) ** 2).sum(0)
            total = count + n
            delta = bm - mean
            mean, m2, count = mean + delta * n / total, m2 + (bm2 + delta**2 * count * n / total), total
        std = torch.sqrt((m2 / count if count != 0 else torch.ones_like(b[0])) + eps).clamp_min(floor)
        outs.append(((b - mean) / std).clamp(-clip, clip).to(torch.float32))
    return count, mean, m2, outs


def test_numpy_arithmetic_repeats_the_torch_definition_bit_for_bit() -> None:
    """The CPU path computes in numpy; its statistics and outputs are the float64 torch
    operations' exactly, over batches of every size a partial reset makes (empty ones included)."""
    gen = torch.Generator().manual_seed(3)
    sizes = [20, 1, 0, 7, 20, 3, 20, 20, 13, 2]
    batches = [torch.randn(n, 60, generator=gen) * torch.logspace(-3, 2, 60) + 0.5 for n in sizes * 5]
    norm = ObservationNormalizer(60, clip=5.0, std_floor=1e-2)
    outs = []
    for x in batches:
        norm.update(x)
        outs.append(norm.normalize(x))
    count, mean, m2, expected = _torch_reference(batches, norm.eps, 1e-2, 5.0)
    assert norm.count.item() == count.item()
    assert torch.equal(norm.mean, mean) and torch.equal(norm.m2, m2)
    for out, ref in zip(outs, expected):
        assert torch.equal(out, ref)
