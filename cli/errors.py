"""User mistakes as one line on stderr and exit code 2; so is a missing safety-gymnasium, which a
plain `pip install` of this package cannot bring (its pygame==2.1.0 pin has no Python 3.11 wheel)."""

from __future__ import annotations

import functools

import typer

SAFETY_GYMNASIUM_MISSING = ("safety-gymnasium is not installed: pip install --no-deps safety-gymnasium==1.0.0 "
                            "(its pygame==2.1.0 pin has no wheel for Python 3.11; shapo-rl already installs what it needs)")


def user_errors(command):
    """Turn a user's mistake into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from shapo_rl.errors import USER_ERRORS

        try:
            return command(*args, **kwargs)
        except USER_ERRORS as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
        except ModuleNotFoundError as err:
            if err.name != "safety_gymnasium":
                raise
            message = SAFETY_GYMNASIUM_MISSING
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2) from None

    return wrapper
