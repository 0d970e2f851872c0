"""Opening a checkpoint never runs code from it: evaluate, attack and resume refuse a crafted
file in one line (exit 2), and the file's payload never runs."""

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli.app import app
from shapo_rl.checkpoint_io import AtomicCheckpointIO, CheckpointError, safe_load

runner = CliRunner()
TINY = ["--algo", "trpo-lag", "--env", "ToyCMDP-v0", "--steps", "400", "--steps-per-epoch", "200", "--num-envs", "10",
        "--no-progress"]


class CreatesFile:
    """Unpickling this calls ``open(path, "w")``: a payload that leaves a trace when it runs."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """A real run whose last.ckpt also carries the payload (and a clean copy beside it)."""
    root = tmp_path_factory.mktemp("safety")
    run = root / "run"
    assert runner.invoke(app, ["train", *TINY, "--out", str(run)]).exit_code == 0
    last = run / "checkpoints" / "last.ckpt"
    clean = root / "clean.ckpt"
    clean.write_bytes(last.read_bytes())
    checkpoint = torch.load(last, weights_only=True)
    marker = root / "payload-ran"
    checkpoint["callbacks"]["extra"] = CreatesFile(marker)
    torch.save(checkpoint, last)
    return run, marker, clean


@pytest.mark.parametrize("command", [
    ["evaluate", "{run}", "--episodes", "2"],
    ["evaluate", "{run}/checkpoints/last.ckpt", "--episodes", "2"],
    ["attack", "{run}", "--rates", "0,1", "--episodes", "2", "--out", "{run}/../attack"],
    ["train", "--resume", "{run}", "--no-progress"],
])
def test_crafted_checkpoint_is_refused_and_never_runs(crafted, command):
    run, marker, _ = crafted
    result = runner.invoke(app, [part.format(run=run) for part in command])
    assert result.exit_code == 2, result.output
    assert "refused: loading it would run io.open" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_lightning_resume_path_loads_through_the_safe_loader(crafted):
    run, marker, clean = crafted
    io = AtomicCheckpointIO()
    with pytest.raises(CheckpointError, match="refused"):
        io.load_checkpoint(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert not marker.exists()
    # everything a run writes (module, optimisers, Lightning's loops and callbacks) loads safely
    checkpoint = io.load_checkpoint(clean)
    assert {"state_dict", "optimizer_states", "loops", "callbacks", "shapo_rl"} <= set(checkpoint)
    assert safe_load(clean)["epoch"] == checkpoint["epoch"]
