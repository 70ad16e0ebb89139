"""Exceptions the CLI turns into a one-line message and exit code 2.

Library code raises these (not bare ValueError) when the *user's input* is wrong, so the
CLI can tell a bad file from a bug: a DatadietError is printed as one line, anything else
is a traceback.
"""

from __future__ import annotations


class DatadietError(Exception):
    """Base class: a problem with what the user gave us. The message names the thing and the fix."""

    exit_code = 2


class InputError(DatadietError, ValueError):
    """A file, row, field or value the user supplied is unusable."""


class MissingDependencyError(DatadietError, ImportError):
    """An optional extra is not installed; the message names the pip command that adds it."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'datadiet[{extra}]'"
        )
