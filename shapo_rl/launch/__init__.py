"""Running grids of training runs and summarising them over seeds."""

from shapo_rl.launch.grid import finished, last_epoch_summary, markdown_table, mean_se, run_grid

__all__ = ["finished", "last_epoch_summary", "markdown_table", "mean_se", "run_grid"]
