"""The ported algorithms repeat the recorded runs of the code before the algorithm protocol:
metrics.csv (timing columns aside) and final actor and critic weights, bit for bit on the CPU
family that recorded them.

The records come from ``python -m tests.regression.record`` (see its docstring for when to
re-record). On another CPU family torch's float32 kernels differ in their last bits, so there the
runs must only stay close: every metric within 1e-3 relative (plus 1e-6 absolute, the size of the
``policy_lag`` noise, which is 0 up to rounding) and every weight tensor within 1e-3 of its largest
entry. Measured between two families: at most 1e-5 relative in metrics and 1.4e-5 in weights.
"""

import math

import pytest
import torch

from tests.regression.record import DATA, RUNS, cpu_family, train_run


def _close(old: str, new: str | None) -> bool:
    try:
        a, b = float(old), float(new)
    except (TypeError, ValueError):
        return old == new
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-3 * max(abs(a), abs(b)) + 1e-6


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_repeats_the_recorded_one(tmp_path, name):
    recorded = torch.load(DATA / f"{name}.pt", weights_only=True)
    assert recorded["args"] == RUNS[name]
    run = train_run(recorded["args"], tmp_path / "run")
    exact = recorded.get("cpu") == cpu_family()
    for old, new in zip(recorded["metrics"], run["metrics"], strict=True):
        if exact:
            assert {k: new.get(k) for k in old} == old
        else:
            assert {k: (v, new.get(k)) for k, v in old.items() if not _close(v, new.get(k))} == {}
    assert sorted(run["weights"]) == sorted(recorded["weights"])
    for key, value in recorded["weights"].items():
        if exact:
            assert torch.equal(run["weights"][key], value), key
        else:
            scale = value.abs().max().item()
            assert (run["weights"][key] - value).abs().max().item() <= 1e-3 * scale, key
