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

import numpy as np
import torch

from shapo_rl.envs import make_rendering_simulator

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

    The first episode starts from the seed that env 0 of an evaluation with ``seed`` gets, so
    with deterministic actions it is the episode that evaluation plays first.
    """
    backend = backend or choose_backend()
    os.environ["MUJOCO_GL"] = backend
    os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    import imageio.v2 as imageio

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    env = make_rendering_simulator(module.config.env)
    normalizer = module.obs_normalizer if module.config.normalize_obs else None
    generator = torch.Generator().manual_seed(seed)
    low, high = env.action_space.low, env.action_space.high
    fps = env.metadata.get("render_fps", 30)
    paths = []
    try:
        for k in range(episodes):
            obs, _ = env.reset(seed=seed if k == 0 else None)
            frames = [env.render()]
            finished = False
            while not finished:
                x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
                if normalizer is not None:
                    x = normalizer.normalize(x)
                loc, scale = module.policy(x)
                action = loc if deterministic else loc + scale * torch.randn(loc.shape, generator=generator)
                step = env.step(np.clip(action.double().numpy(), low, high))
                obs, terminated, truncated = step[0], step[-3], step[-2]
                finished = terminated or truncated
                frames.append(env.render())
            path = directory / f"episode{k:03d}.mp4"
            imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
            paths.append(path)
    finally:
        env.close()
    return paths
