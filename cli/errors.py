"""User mistakes as one line on stderr and exit code 2."""

from __future__ import annotations

import functools

import typer


def user_errors(command):
    """Turn a user's mistake into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from shapo_rl.errors import USER_ERRORS

        try:
            return command(*args, **kwargs)
        except USER_ERRORS as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2) from None

    return wrapper
