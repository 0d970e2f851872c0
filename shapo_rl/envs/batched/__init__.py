"""Where env steps happen: a *slice* is a few envs of one task stepped together, numpy in and out.

Every slice has the contract of :class:`~shapo_rl.envs.batched.stock.StockSlice`:
``spaces()``, ``reset(requests)`` with ``(env index, seed or None)`` pairs, ``step(actions)``
returning float32 observations ``[k, obs]``, float32 rewards and costs ``[k]`` and boolean
terminated and truncated ``[k]``, and ``close()``. :class:`~shapo_rl.envs.batch.SimulatorBatch`
spreads a batch of envs over slices in this process and in worker processes.

Two backends build slices (``make_env(..., backend=...)``, ``--set env_backend=...``):

* ``stock``: each env's own ``step``, the simulator's code as published;
* ``fast`` (default): the task family's batched slice where it has one, which lets MuJoCo step
  each env's own model and data and computes what happens around the physics (observations,
  reward, cost, termination) once for all envs of the slice with array operations; the same
  numbers as ``stock`` (tested env by env). A family without one, and any slice that renders,
  steps the stock way.
"""

from __future__ import annotations

from shapo_rl.envs.batched.locomotion import LocomotionSlice
from shapo_rl.envs.batched.navigation import NavigationSlice
from shapo_rl.envs.batched.stock import StockSlice
from shapo_rl.envs.simulator import make_simulator
from shapo_rl.envs.tasks import TaskSpec

BACKENDS = ("fast", "stock")

# Fast slice classes, asked in order; each has ``accepts(env) -> bool`` for a built env.
_FAST_SLICES: list[type] = [NavigationSlice, LocomotionSlice]


def slice_class(backend: str, env, render_mode: str | None) -> type:
    """The slice class that steps envs like ``env`` (an env of the task, already built)."""
    if backend not in BACKENDS:
        raise ValueError(f"env backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "fast" and render_mode is None:
        for candidate in _FAST_SLICES:
            if candidate.accepts(env):
                return candidate
    return StockSlice


def make_slice(backend: str, spec: TaskSpec, max_episode_steps: int, count: int, render_mode: str | None = None,
               envs: list | None = None, threads: int | None = None):
    """``count`` envs of ``spec`` as one slice of ``backend`` (``envs``: some already built).
    ``threads``: how many threads step a fast slice's physics (None: its measured default); the
    stock slice steps in the calling thread."""
    envs = list(envs or [])
    if not envs:
        envs.append(make_simulator(spec, max_episode_steps, render_mode))
    cls = slice_class(backend, envs[0], render_mode)
    layout = {} if cls is StockSlice or threads is None else {"threads": threads}
    return cls(spec, max_episode_steps, count, render_mode, envs=envs, **layout)
