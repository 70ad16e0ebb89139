"""Pieces every CLI module shares: one-line errors, progress bars, the --quiet option.

Kept apart from cli.py so each capability's command group (datadiet.commands.*) can import them
without importing the whole app.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import DatadietError

err_console = Console(stderr=True)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def handle_errors(fn):
    """Turn a DatadietError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatadietError as exc:
            if os.environ.get("DATADIET_DEBUG") == "1":
                raise
            typer.echo(f"datadiet: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("datadiet: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


@contextmanager
def progress_bar(quiet: bool):
    """A rich progress bar on stderr; silent with --quiet or when stderr is not a terminal."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, disable=quiet or not err_console.is_terminal, transient=False,
    )
    with progress:
        yield progress


