"""One training run: config in, run directory out (config.yaml, metrics.csv, checkpoints/)."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from shapo_rl.algorithms import config_from_dict, env_transforms, with_algorithm_defaults
from shapo_rl.callbacks import MetricsCSV, TrainingProgress
from shapo_rl.checkpoint_io import AtomicCheckpointIO
from shapo_rl.checkpoints import CheckpointError, build_module, checkpoint_config, read_checkpoint
from shapo_rl.config import ConfigError, TrainConfig
from shapo_rl.envs import get_task
from shapo_rl.quiet import third_party_noise_silenced
from shapo_rl.rollout.datamodule import RolloutDataModule, steps_per_process


class RunDirectoryError(ValueError):
    """The output directory cannot be used as asked (holds another run, or no run to resume)."""


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"


def default_num_envs(steps_per_epoch: int, episode_steps: int) -> int:
    """The most envs that each still run at least one whole episode per epoch (a divisor of
    ``steps_per_epoch``, at least 1).

    Each rollout starts from reset envs, so an env given fewer steps than an episode never
    finishes one; within that bound, more envs per policy call amortise the per-call overhead of
    the TorchRL stack (on 2 cores, SafetyHopperVelocity-v1 collects 1.2-1.6x faster with 20 envs
    than with 8).
    """
    most = max(1, steps_per_epoch // episode_steps)
    return max(n for n in range(1, most + 1) if steps_per_epoch % n == 0)


def resolve(config: TrainConfig, processes: int = 1) -> TrainConfig:
    """Fill the algorithm's default config, the task's default cost limit and env count (for
    ``processes`` sharing each epoch), and check names against the registries and the run
    against its algorithm (whose env transforms refuse what it cannot take, e.g. Saute a cost
    limit of 0) before anything is written."""
    task = get_task(config.env)
    config = with_algorithm_defaults(config)
    if config.cost_limit is None:
        config = replace(config, cost_limit=task.cost_limit)
    env_transforms(config)
    if config.num_envs is None:
        per_process = max(1, config.steps_per_epoch // processes)
        config = replace(config, num_envs=default_num_envs(per_process, task.max_episode_steps))
    return config


def load_config(run_dir: Path) -> TrainConfig:
    paths = RunPaths(Path(run_dir))
    if not paths.config.is_file():
        raise RunDirectoryError(f"{run_dir} holds no run (no config.yaml)")
    try:
        return config_from_dict(yaml.safe_load(paths.config.read_text()))
    except (yaml.YAMLError, ValueError) as err:
        raise RunDirectoryError(f"{paths.config} is not a valid shapo-rl config: {err}") from None


def prepare_run_directory(config: TrainConfig | None, run_dir: Path, *, resume: bool, force: bool,
                          processes: int = 1) -> TrainConfig:
    """Create, reuse (resume: the saved config is used) or overwrite (force) ``run_dir``; return
    the run's configuration, resolved for ``processes`` training processes.

    Never silently clobbers a run, and refuses a configuration whose epoch cannot be shared out
    between ``processes`` before anything is written. A process other than rank 0 (a replica that Lightning's DDP
    launcher started by running the same command again) only reads: rank 0 has already prepared
    the directory, and with ``force`` a second clean-up would delete its config.yaml."""
    paths = RunPaths(Path(run_dir))
    if rank_zero_only.rank != 0:
        return load_config(paths.root) if resume else resolve(config, processes)
    if resume:
        saved = load_config(paths.root)
        if not paths.last_checkpoint.is_file():
            raise RunDirectoryError(f"{paths.root} has no checkpoint to resume from")
        checkpoint = read_checkpoint(paths.last_checkpoint)
        if checkpoint_config(checkpoint, paths.last_checkpoint) != saved:
            raise CheckpointError(f"{paths.last_checkpoint} belongs to another configuration than {paths.config}")
        steps_per_process(saved, processes)
        return saved
    config = resolve(config, processes)
    steps_per_process(config, processes)
    try:
        _clear_for_new_run(paths, force)
        paths.root.mkdir(parents=True, exist_ok=True)
        paths.config.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    except OSError as err:
        raise RunDirectoryError(f"cannot write the run directory {paths.root}: {err.strerror or err}") from None
    return config


def _clear_for_new_run(paths: RunPaths, force: bool) -> None:
    """Refuse a directory that holds files, or with ``force`` remove the files of a run from it."""
    if not (paths.root.exists() and any(paths.root.iterdir())):
        return
    if not force:
        raise RunDirectoryError(f"{paths.root} already holds files; pass --resume to continue it "
                                "or --force to overwrite it")
    for name in ("config.yaml", "metrics.csv", "checkpoints", "evaluation.csv", "attack.csv"):
        target = paths.root / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def device_count(accelerator: str, devices: int | str) -> int:
    """The number of processes Lightning starts for ``devices`` on ``accelerator``.

    ``devices="auto"`` means every device of the accelerator, which with ``accelerator="auto"``
    is the one Lightning picks (Apple MPS, else CUDA, else CPU: one CPU process). Resolved here,
    before the run directory is written, so that the epoch-sharing check, the default env count
    and the DDP strategy see the real count.
    """
    if isinstance(devices, int) and devices >= 1:
        return devices
    if devices != "auto":
        raise ConfigError(f"--devices must be a positive count or 'auto', got {devices!r}")
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator, MPSAccelerator

    kinds = {"cpu": CPUAccelerator, "cuda": CUDAAccelerator, "mps": MPSAccelerator}
    if accelerator == "auto":
        kind = next((k for k in (MPSAccelerator, CUDAAccelerator) if k.is_available()), CPUAccelerator)
    elif accelerator == "gpu":
        kind = MPSAccelerator if MPSAccelerator.is_available() else CUDAAccelerator
    elif accelerator in kinds:
        kind = kinds[accelerator]
    else:
        raise ConfigError(f"unknown accelerator {accelerator!r} (choose from auto, cpu, gpu, cuda, mps)")
    return kind.auto_device_count()


def lightning_strategy(strategy: str, devices: int) -> str:
    """The Lightning strategy to run: DDP always with unused-parameter detection.

    A backward pass through DDP (PPO's actor minibatches) reaches the policy alone, never the
    critics or the Lagrange multiplier, and DDP without that detection stops at the first one.
    ``"auto"`` with several devices means DDP, as Lightning decides outside notebooks.
    """
    if strategy == "auto" and devices > 1:
        strategy = "ddp"
    if strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        return f"{strategy}_find_unused_parameters_true"
    return strategy


LOGGERS = ("csv", "tensorboard", "wandb")
_LOGGER_PACKAGES = {"csv": None, "tensorboard": "tensorboard", "wandb": "wandb"}


def check_loggers(names: Sequence[str]) -> None:
    """Refuse an unknown logger, or one whose package is not installed, before anything is written."""
    for name in names:
        if name not in _LOGGER_PACKAGES:
            raise ConfigError(f"unknown logger {name!r} (choose from {', '.join(LOGGERS)})")
        package = _LOGGER_PACKAGES[name]
        if package is not None and importlib.util.find_spec(package) is None:
            raise ConfigError(f"--logger {name} needs the {package} package: pip install {package}")


def make_loggers(names: Sequence[str], root: Path) -> list:
    """Lightning loggers writing inside the run directory (metrics.csv is written regardless)."""
    from lightning.pytorch import loggers

    build = {"csv": lambda: loggers.CSVLogger(root, name="lightning_csv", version=""),
             "tensorboard": lambda: loggers.TensorBoardLogger(root, name="tensorboard", version="",
                                                              default_hp_metric=False),
             "wandb": lambda: loggers.WandbLogger(save_dir=str(root), name=root.name, project="shapo-rl")}
    return [build[name]() for name in names]


def train(config: TrainConfig | None, run_dir: Path | str, *, resume: bool = False, force: bool = False,
          progress: bool = True, accelerator: str = "auto", devices: int | str = 1,
          strategy: str = "auto", threads: int = 1, loggers: Sequence[str] = (),
          overlap_critics: bool | None = None) -> Path:
    """Train ``config`` into ``run_dir``, or with ``resume`` continue the run saved there, on
    ``devices`` (a count or ``"auto"``, see :func:`device_count`) processes of ``accelerator``.

    ``threads`` is torch's intra-op thread count. The networks are small (64x64 MLPs on
    minibatches of 64-128), where one thread is fastest: more threads spin on the cores the
    simulator needs, and measured 8x slower per critic step on a busy 2-core machine.
    ``loggers`` names Lightning loggers (``LOGGERS``) to write beside metrics.csv.
    ``overlap_critics``: on one process, regress each epoch's critics in a child process while
    the next epoch's rollout is collected (the same numbers; False runs them one after the other;
    None decides by the run's length, see ``SafePolicyOptimization``).
    """
    torch.set_num_threads(threads)
    paths = RunPaths(Path(run_dir))
    devices = device_count(accelerator, devices)
    check_loggers(loggers)
    if resume:
        config = prepare_run_directory(config, paths.root, resume=True, force=force, processes=devices)
    else:
        config = resolve(config, devices)
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = build_module(config, overlap_critics=overlap_critics)
    if not resume:  # written once the module builds: a setting it refuses (a mismatched file) leaves nothing
        prepare_run_directory(config, paths.root, resume=False, force=force, processes=devices)
    data = RolloutDataModule(config, module.policy, module.obs_normalizer)
    callbacks: list[L.Callback] = [
        MetricsCSV(paths.metrics),
        ModelCheckpoint(dirpath=paths.checkpoints, filename="epoch{epoch:04d}", auto_insert_metric_name=False,
                        save_last=True, save_top_k=1, every_n_epochs=1, save_on_train_epoch_end=True,
                        enable_version_counter=False),
    ]
    if progress:
        callbacks.append(TrainingProgress(config.steps))
    with third_party_noise_silenced(devices):
        trainer = L.Trainer(max_epochs=config.epochs, accelerator=accelerator, devices=devices,
                            strategy=lightning_strategy(strategy, devices),
                            logger=make_loggers(loggers, paths.root) or False, callbacks=callbacks,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=paths.root, plugins=[AtomicCheckpointIO()])
        trainer.fit(module, datamodule=data, ckpt_path=paths.last_checkpoint if resume else None)
    return paths.root
