"""Offscreen videos of evaluation episodes, on a machine without a display.

MuJoCo renders headless through EGL (GPU or Mesa) or OSMesa (software), chosen by the
``MUJOCO_GL`` variable before the first frame. The user's ``MUJOCO_GL``, else EGL then OSMesa,
is tried in a short child process (a failed OpenGL import cannot be undone in this one) and the
first that opens a context is used; when none does, one line names what to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torchrl.envs import ExplorationType, set_exploration_type
from torchrl.envs.utils import step_mdp

from shapo_rl import keys
from shapo_rl.algorithms.registry import make_run_env
from shapo_rl.evaluation.episodes import frozen_normalizer

HEADLESS_BACKENDS = ("egl", "osmesa")
_PROBE = "from mujoco.{0} import GLContext; c = GLContext(16, 16); c.make_current(); c.free()"


class VideoError(RuntimeError):
    """No video can be made here (no headless OpenGL backend)."""


def backend_works(backend: str) -> bool:
    """Whether MuJoCo can open an offscreen ``backend`` context (tried in a child process)."""
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    probe = subprocess.run([sys.executable, "-c", _PROBE.format(backend)], env=env, capture_output=True, timeout=60)
    return probe.returncode == 0


def choose_backend(backends: Sequence[str] = HEADLESS_BACKENDS,
                   works: Callable[[str], bool] = backend_works) -> str:
    """The first backend that works: ``MUJOCO_GL`` alone if the user set it, else ``backends``."""
    chosen = os.environ.get("MUJOCO_GL")
    candidates = [chosen] if chosen else list(backends)
    for backend in candidates:
        if works(backend):
            return backend
    hint = f"set MUJOCO_GL={chosen} does not work here; unset it or " if chosen else ""
    raise VideoError(f"no headless OpenGL backend works for MuJoCo (tried {', '.join(candidates)}): {hint}install "
                     "EGL (Debian/Ubuntu: libegl1) or OSMesa (libosmesa6)")


@torch.no_grad()
def record_episodes(module, directory: Path, *, episodes: int, seed: int, deterministic: bool = True,
                    backend: str | None = None) -> list[Path]:
    """Render ``episodes`` episodes of ``module``'s policy to ``directory/episodeNNN.mp4`` with the
    OpenGL ``backend`` (default: :func:`choose_backend`'s).

    The episodes are played in the run's env (:func:`~shapo_rl.algorithms.make_run_env`, with its
    algorithm's env transforms) as env 0 of an evaluation with ``seed``: with deterministic
    actions the first one is the episode that evaluation plays first.
    """
    backend = backend or choose_backend()
    os.environ["MUJOCO_GL"] = backend
    os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    import imageio.v2 as imageio

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    env = make_run_env(module.config, num_envs=1, seed=seed, obs_normalizer=frozen_normalizer(module),
                       render_mode="rgb_array")
    simulator = env.base_env
    policy = module.make_collection_policy()
    mode = ExplorationType.DETERMINISTIC if deterministic else ExplorationType.RANDOM
    fps = simulator.render_fps
    paths = []
    try:
        with torch.random.fork_rng(), set_exploration_type(mode):
            torch.manual_seed(seed)
            for k in range(episodes):
                td = env.reset()
                frames = [simulator.render()]
                while True:
                    td = env.step(policy(td))
                    frames.append(simulator.render())
                    if bool(td["next", keys.DONE].all()):
                        break
                    td = step_mdp(td)
                path = directory / f"episode{k:03d}.mp4"
                imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
                paths.append(path)
    finally:
        env.close()
    return paths
