"""Pieces every CLI module shares: one-line errors, progress bars, the --quiet option.

Kept apart from cli.py so each capability's command group (datadiet.commands.*) can import them
without importing the whole app.
"""

from __future__ import annotations

import functools
import os
import sys
from contextlib import contextmanager
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .errors import DatadietError

err_console = Console(stderr=True)

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _quiet_rank() -> bool:
    """A torchrun rank other than 0: every rank raises the same error, rank 0 alone prints it."""
    return os.environ.get("RANK", "0") != "0" and "WORLD_SIZE" in os.environ


def handle_errors(fn):
    """Turn a DatadietError into one line on stderr and exit code 2 (under torchrun: printed by rank 0,
    and every rank exits with the code)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatadietError as exc:
            if os.environ.get("DATADIET_DEBUG") == "1":
                raise
            if not _quiet_rank():
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




class OneLineErrors(typer.core.TyperGroup):
    """The root command group: a usage error (an unknown option, `-k abc`) is one line and exit 2, as
    every other error, instead of Click's framed box; `datadiet` alone shows the help."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "datadiet"
            if not _quiet_rank():
                click.echo(f"datadiet: error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            if not _quiet_rank():
                click.echo(f"datadiet: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("datadiet: interrupted", err=True)
            sys.exit(130)
        code = rv if isinstance(rv, int) else 0  # click returns an Exit's code when not standalone
        if standalone_mode:
            sys.exit(code)
        return code
