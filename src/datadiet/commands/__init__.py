"""Command groups of the capabilities that keep their CLI in their own module.

Every module here defines ``NAME`` (the sub-command, e.g. ``"reuse"``) and ``app`` (a Typer group) and
imports only light things at module level: ``datadiet --help`` imports them all. Modules are found by
listing this package, so adding a capability's CLI touches no shared file.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer


def _discover() -> dict[str, typer.Typer]:
    groups: dict[str, typer.Typer] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        groups[module.NAME] = module.app
    return groups


COMMAND_GROUPS = _discover()
