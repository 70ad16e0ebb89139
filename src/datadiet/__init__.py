"""datadiet: train on less data, faster, and know why."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("datadiet")  # one source of truth: pyproject.toml
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
