"""The ported algorithms repeat the recorded runs of the code before the algorithm protocol bit
for bit: metrics.csv (timing columns aside) and final actor and critic weights.

The records come from ``python -m tests.regression.record`` (see its docstring for when to
re-record).
"""

import pytest
import torch

from tests.regression.record import DATA, RUNS, train_run


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_repeats_the_recorded_one_exactly(tmp_path, name):
    recorded = torch.load(DATA / f"{name}.pt", weights_only=True)
    assert recorded["args"] == RUNS[name]
    run = train_run(recorded["args"], tmp_path / "run")
    for old, new in zip(recorded["metrics"], run["metrics"], strict=True):
        assert {k: new.get(k) for k in old} == old
    assert sorted(run["weights"]) == sorted(recorded["weights"])
    for key, value in recorded["weights"].items():
        assert torch.equal(run["weights"][key], value), key
