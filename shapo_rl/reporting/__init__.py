"""Figures of the papers, drawn from evaluation and training records."""
