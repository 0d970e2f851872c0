"""The critics' regression on their GAE targets, run in place or beside the next rollout.

The next rollout needs only the new actor and the observation normaliser, and the critics are
read again only by the next epoch's GAE. So on one process the regression of epoch k can run in
a child process while the training process collects the rollout of epoch k+1. A child, not a
thread: both loops are mostly Python, and a thread measured slower than running them one after
the other, the two fighting for the GIL. The numbers stay those of running it in place: the
shuffles are drawn from torch's global generator when the regression starts, in the order the
in-place run draws them; the child gets the critics' weights and their optimiser's state, runs
the same operations on one thread, and :meth:`CriticRegression.join` copies its weights and
state back, so nothing touches the critics or their optimiser in between.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from functools import partial
from typing import TYPE_CHECKING, Any, BinaryIO

import torch
from torch import Tensor

from shapo_rl.models.networks import StackedMLP
from shapo_rl.optim.fisher import Reduce, identity_reduce
from shapo_rl.optim.sam import SAM
from shapo_rl.optim.trust_region import check_finite

if TYPE_CHECKING:  # the child process imports torch and this package's torch modules only
    from shapo_rl.config import CriticConfig, TrainConfig

METRICS = ("reward_critic_loss", "cost_critic_loss")


def critic_optimizer(critics: StackedMLP, config: TrainConfig, reduce: Reduce = identity_reduce) -> SAM:
    """Adam on both critics under SAM with each critic's radius (0: plain Adam).

    The L2 penalty l2 ||w||^2 of the critic loss enters as Adam's weight decay (its gradient
    2 l2 w); SAM perturbs along the MSE's gradient only."""
    cfg = config.critic
    return SAM(critics.parameters(), torch.optim.Adam, rho=config.shapo.critic_sam_radii(), members=2,
               reduce=reduce, max_grad_norm=cfg.max_grad_norm, lr=cfg.lr, weight_decay=2 * cfg.l2, fused=True)


def regress(critics: StackedMLP, optimizer: SAM, obs: Tensor, targets: Tensor, orders: list[Tensor],
            minibatch_size: int) -> dict[str, float]:
    """One pass of minibatch steps per shuffle in ``orders``; the passes' mean losses.

    Each minibatch step is one ``SAM.step`` on the two critics' MSEs (one per member of the
    stacked critics; gradients by ``StackedMLP.squared_error_gradients``), i.e. Adam on
    MSE + l2 ||w||^2 for a critic with radius 0 and SAM (Foret et al.) for one with radius
    rho_c. A non-finite loss stops the run once the regression is through."""
    totals = torch.zeros(2, dtype=torch.float64)
    steps = 0
    for order in orders:  # one gather per pass, minibatches are its slices
        for batch_obs, batch_targets in zip(obs[order].split(minibatch_size), targets[order].split(minibatch_size)):
            totals += optimizer.step(partial(critics.squared_error_gradients, batch_obs, batch_targets))
            steps += 1
    check_finite("critic loss", totals)  # the losses are >= 0: their sum is finite iff each is
    for name, param in critics.named_parameters():
        check_finite(f"critic parameter {name}", param)
    return {METRICS[0]: float(totals[0]) / steps, METRICS[1]: float(totals[1]) / steps}


class CriticRegression:
    """Regress V_r and V_c on their GAE targets: ``update_iters`` passes of shuffled minibatches
    (:func:`regress`), stepping the optimiser directly, without Lightning's per-step wrapper
    (``trainer.global_step`` then counts actor steps only).

    ``start(obs, reward_target, cost_target, optimizer, background=...)`` begins a regression, in
    place or in the child process; ``join()`` waits for it, puts the child's weights and optimiser state in place and
    returns the mean losses, re-raising what the regression raised. ``seconds`` is the
    regression's wall time (in the child: the time between the two). ``launch()`` starts the child
    ahead of its first job, ``close()`` ends it.
    """

    def __init__(self, critics: StackedMLP, config: CriticConfig):
        self.critics = critics
        self.config = config
        self.seconds = 0.0
        self._child: _RegressionProcess | None = None
        self._pending: tuple[SAM, float] | None = None
        self._outcome: dict[str, float] | BaseException | None = None

    @property
    def running(self) -> bool:
        """A regression started in the child and not joined yet."""
        return self._pending is not None

    def start(self, obs: Tensor, reward_target: Tensor, cost_target: Tensor, optimizer: SAM, *,
              background: bool) -> None:
        """Regress on states ``obs`` ``[N, obs_dim]`` and the GAE targets ``[N, 1]`` of each critic."""
        if self._pending is not None or self._outcome is not None:
            raise RuntimeError("the previous critic regression was not joined")
        cfg = self.config
        orders = [torch.randperm(obs.shape[0]) for _ in range(cfg.update_iters)]
        targets = torch.cat([reward_target, cost_target], dim=-1)  # [N, 2]
        start = time.perf_counter()
        if background:
            self.launch()
            self._child.submit(self.critics, optimizer, obs, targets, orders, cfg.minibatch_size)
            self._pending = (optimizer, start)
            return
        try:
            self._outcome = regress(self.critics, optimizer, obs, targets, orders, cfg.minibatch_size)
        except Exception as err:  # re-raised by join, as from the child
            self._outcome = err
        self.seconds = time.perf_counter() - start

    def join(self) -> dict[str, float]:
        if self._pending is not None:
            optimizer, start = self._pending
            self._pending = None
            self._outcome = self._child.result(self.critics, optimizer)
            self.seconds = time.perf_counter() - start
        outcome, self._outcome = self._outcome, None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome or {}

    def launch(self) -> None:
        """Start the child process now (it takes about 1.3 s to import torch), if not running."""
        if self._child is None:
            self._child = _RegressionProcess(self.critics)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None
        self._pending = None


def _write_frame(stream: BinaryIO, value: Any) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    data = buffer.getvalue()
    stream.write(len(data).to_bytes(8, "little") + data)
    stream.flush()


def _read_frame(stream: BinaryIO) -> Any:
    """The next value, or EOFError where the other side hung up."""
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    data = stream.read(int.from_bytes(head, "little"))
    return torch.load(io.BytesIO(data), weights_only=False)  # our own pipe's bytes, never a file


class _RegressionProcess:
    """A child ``python`` process holding a copy of the critics. Each job carries the
    weights, the optimiser's state and settings, and the data; each answer the new weights and
    state, or the exception raised. Frames are ``torch.save`` bytes behind their length."""

    def __init__(self, critics: StackedMLP):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        serve = f"from {__name__} import _serve; _serve({torch.get_num_threads()})"
        self._process = subprocess.Popen([sys.executable, "-c", serve],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        _write_frame(self._process.stdin, critics)

    def submit(self, critics: StackedMLP, optimizer: SAM, obs: Tensor, targets: Tensor,
               orders: list[Tensor], minibatch_size: int) -> None:
        if optimizer.reduce is not identity_reduce:
            raise ValueError("a critic regression beside the rollout runs on one process only")
        settings = {"base": type(optimizer.base), "rho": optimizer.rho, "members": optimizer.members,
                    "max_grad_norm": optimizer.max_grad_norm}
        try:
            _write_frame(self._process.stdin, {"weights": critics.state_dict(), "optimizer": optimizer.state_dict(),
                                               "settings": settings, "obs": obs, "targets": targets,
                                               "orders": orders, "minibatch_size": minibatch_size})
        except BrokenPipeError:
            pass  # the child is gone: result() says so

    def result(self, critics: StackedMLP, optimizer: SAM) -> dict[str, float] | BaseException:
        try:
            answer = _read_frame(self._process.stdout)
        except EOFError:
            return RuntimeError(f"the critic regression process died (exit code {self._process.wait()})")
        if isinstance(answer, BaseException):
            return answer
        critics.load_state_dict(answer["weights"])
        optimizer.load_state_dict(answer["optimizer"])
        return answer["metrics"]

    def close(self) -> None:
        self._process.stdin.close()  # the child reads EOF and returns
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


def _serve(threads: int) -> None:
    """The child's loop: one regression per job, until the training process hangs up."""
    torch.set_num_threads(threads)
    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    try:
        critics = _read_frame(jobs)
    except EOFError:
        return
    while True:
        try:
            job = _read_frame(jobs)
        except EOFError:
            return
        try:
            critics.load_state_dict(job["weights"])
            settings = job["settings"]
            optimizer = SAM(critics.parameters(), settings["base"], rho=settings["rho"], members=settings["members"],
                            max_grad_norm=settings["max_grad_norm"])
            optimizer.load_state_dict(job["optimizer"])  # the base's settings (lr, decay, ...) and state
            metrics = regress(critics, optimizer, job["obs"], job["targets"], job["orders"], job["minibatch_size"])
            answer: Any = {"weights": critics.state_dict(), "optimizer": optimizer.state_dict(), "metrics": metrics}
        except Exception as err:
            answer = err
        try:
            _write_frame(answers, answer)
        except BrokenPipeError:
            return
