"""The exceptions that mean "the user asked for something invalid" (reported in one line)."""

from shapo_rl.algorithms.registry import UnknownAlgorithmError
from shapo_rl.config import ConfigError
from shapo_rl.checkpoints import CheckpointError
from shapo_rl.envs import EnvContractError, UnknownTaskError, UnsupportedTaskError
from shapo_rl.evaluation import SweepError
from shapo_rl.evaluation.video import VideoError
from shapo_rl.optim.trust_region import NonFiniteError
from shapo_rl.reporting import ReportError
from shapo_rl.training import RunDirectoryError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, UnknownTaskError, UnsupportedTaskError, EnvContractError, UnknownAlgorithmError, RunDirectoryError,
    CheckpointError, NonFiniteError, SweepError, VideoError, ReportError,
)
