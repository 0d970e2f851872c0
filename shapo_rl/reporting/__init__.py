"""Reports from run directories: runs grouped by (task, algorithm, variant), seeds pooled, drawn
as figures (learning curves, Pareto ellipses, cost distributions, attack curves, performance
profiles) and tables, gathered in a report.md."""


class ReportError(ValueError):
    """A report input that cannot be used (not a run directory, no metrics)."""
