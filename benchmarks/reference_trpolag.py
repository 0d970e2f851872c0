"""End-to-end training throughput of the reference library's TRPO-Lag (OmniSafe 0.5.0 TRPOLag).

It trains ``omnisafe.Agent('TRPOLag', task)`` with the settings of shapo-rl's default run: one
env, one torch thread, CPU, cost limit 25, ``--steps-per-epoch`` steps per epoch, ``--steps``
steps in all, csv logging only (no tensorboard) into a temporary directory deleted at exit;
everything else is TRPOLag's own default (``omnisafe/configs/on-policy/TRPOLag.yaml``), and
OmniSafe's on-policy algorithms run no evaluation episodes during training. The figure is the
wall time of ``agent.learn()`` alone (env and agent construction excluded), printed as the last
line of stdout in JSON::

    {"task": "SafetyHopperVelocity-v1", "steps": 40000, "seconds": 81.44, "steps_per_second": 491.2}

It runs in a separate Python environment that holds OmniSafe (never a dependency of shapo-rl),
so it imports nothing from shapo_rl. The throughput benchmark calls it in a subprocess with that
environment's python::

    REFERENCE_PYTHON benchmarks/reference_trpolag.py --task SafetyPointGoal1-v0 --steps 40000 \
        --steps-per-epoch 20000 --seed 0

Setting up such an environment (Python 3.11):

1. ``python3.11 -m venv VENV``, then ``VENV/bin/pip install torch==2.13.0`` first (the CPU wheel;
   an unpinned torch pulls a multi-GB CUDA build).
2. OmniSafe's and safety-gymnasium's runtime needs, with the pins that work together on 3.11:
   ``pip install numpy==1.23.5 gymnasium==0.28.1 gymnasium-robotics==1.2.2 mujoco==2.3.3
   "pygame>=2.6,<2.7" pandas==2.0.3 xmltodict pyyaml imageio tensorboard wandb moviepy
   typing-extensions typer seaborn matplotlib gdown``.
3. ``pip install --no-deps safety-gymnasium==1.0.0 omnisafe==0.5.0``: safety-gymnasium pins
   pygame==2.1.0, which has no Python 3.11 wheel, and OmniSafe depends on it.
4. safety_gymnasium 1.0.0 does not import on Python 3.11 (``ValueError: mutable default <class
   'numpy.ndarray'> for field color``: its geom dataclasses default fields to numpy arrays).
   Cure it with a ``sitecustomize.py`` in the environment's site-packages that, during the first
   ``import safety_gymnasium`` only, substitutes a ``dataclasses.dataclass`` turning ndarray class
   attributes into ``field(default_factory=value.copy)`` (the same cure as
   ``shapo_rl/envs/safety_gymnasium_import.py``, applied by an import hook since OmniSafe does
   the import itself).
5. Check: ``VENV/bin/python -c "import omnisafe"``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="a safety-gymnasium task, e.g. SafetyPointGoal1-v0")
    parser.add_argument("--steps", type=int, required=True, help="env steps in all")
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps_per_epoch <= 0 or args.steps <= 0 or args.steps % args.steps_per_epoch:
        parser.error("--steps must be a positive multiple of --steps-per-epoch")
    try:
        import omnisafe
    except Exception as error:  # ImportError, or safety_gymnasium's ValueError without its cure
        print(f"cannot import omnisafe ({type(error).__name__}: {error}); run this with the python of an "
              f"environment set up as {__file__}'s docstring says", file=sys.stderr)
        raise SystemExit(2) from None

    with tempfile.TemporaryDirectory(prefix="reference-trpolag-") as log_dir:
        custom_cfgs = {
            "seed": args.seed,
            "train_cfgs": {"device": "cpu", "torch_threads": 1, "vector_env_nums": 1, "total_steps": args.steps},
            "algo_cfgs": {"steps_per_epoch": args.steps_per_epoch},
            "lagrange_cfgs": {"cost_limit": 25.0},
            "logger_cfgs": {"log_dir": log_dir, "use_tensorboard": False, "use_wandb": False},
        }
        agent = omnisafe.Agent("TRPOLag", args.task, custom_cfgs=custom_cfgs)
        start = time.perf_counter()
        agent.learn()
        seconds = time.perf_counter() - start
    print(json.dumps({"task": args.task, "steps": args.steps, "seconds": round(seconds, 2),
                      "steps_per_second": round(args.steps / seconds, 1)}))


if __name__ == "__main__":
    main()
