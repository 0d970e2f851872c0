"""Recipes of runs (declarations, jobs, engines) and their summaries over seeds."""

from shapo_rl.launch.job import finished
from shapo_rl.launch.summary import last_epoch_summary, markdown_table, mean_se

__all__ = ["finished", "last_epoch_summary", "markdown_table", "mean_se"]
