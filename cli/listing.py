"""Listings whose names and values are never truncated (`list`, `recipe`)."""

from __future__ import annotations

import textwrap

import typer


def print_listing(columns: list[str], rows: list[list[str]], width: int | None = None) -> None:
    """Print a listing whose names and values never truncate: aligned columns, and in a terminal
    of ``width`` columns the last one (the description) wraps under itself; piped (no
    ``width``), plain text with one row per line."""
    widths = [max(len(x) for x in column) for column in zip(columns, *rows)]
    indent = sum(w + 2 for w in widths[:-1])
    room = max(20, width - indent) if width else None
    for row in [columns, *rows]:
        head = "".join(x.ljust(w + 2) for x, w in zip(row[:-1], widths))
        lines = textwrap.wrap(row[-1], room) if room else [row[-1]]
        typer.echo(head + lines[0] if lines else head.rstrip())
        for line in lines[1:]:
            typer.echo(" " * indent + line)
