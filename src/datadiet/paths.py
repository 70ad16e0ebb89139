"""Where datadiet keeps caches and writes outputs, and how it writes them safely."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


def cache_dir(*parts: str) -> Path:
    """The cache root ($DATADIET_CACHE, else $XDG_CACHE_HOME/datadiet, else ~/.cache/datadiet)."""
    root = os.environ.get("DATADIET_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        root = os.path.join(xdg, "datadiet")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it onto `dest` only if the block succeeds.

    A crash or an exception leaves `dest` untouched (either the old file or nothing), never
    a half-written file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_write(dest: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that replaces `dest` atomically on success."""
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
        kwargs.setdefault("newline", "")
    with atomic_path(dest) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def check_output(path: str | os.PathLike, flag: str, folder: bool = False) -> Path:
    """Refuse an output path that cannot be written, before any work starts (one line: flag, path, fix).

    The path must not be a folder (with `folder`: it is a folder output, and may be an existing empty
    folder but not a file), every existing folder above it must be a folder (not a file), and the
    nearest existing one must be writable, as must the file itself if it exists.
    """
    path = Path(path)
    if folder:
        if path.exists() and not (path.is_dir() and not any(path.iterdir())):
            raise _input_error(f"{flag} {path} exists and is not an empty folder; give a new path "
                               "(a datasets folder is written there)")
    elif path.is_dir():
        raise _input_error(f"{flag} {path} is a folder; give a file path")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise _input_error(f"{flag} {path}: {parent} is a file, not a folder; choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _input_error(f"{flag} {path}: the folder {parent} is not writable; choose another path")
    if path.exists() and not os.access(path, os.W_OK):
        raise _input_error(f"{flag} {path} exists and is not writable; choose another path")
    return path


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs: tuple = (),
                  folders: frozenset[str] = frozenset()) -> dict[str, Path]:
    """check_output for every {flag: path} (None = not asked for; flags in `folders` are folder outputs),
    and refuse an output that is an input or the same file as another output. Returns {flag: Path}
    of the outputs asked for."""
    chosen = {flag: check_output(p, flag, flag in folders) for flag, p in outputs.items() if p is not None}
    seen: dict[str, str] = {os.path.realpath(p): "the input" for p in inputs if p is not None}
    for flag, path in chosen.items():
        real = os.path.realpath(path)
        if real in seen:
            other = seen[real]
            raise _input_error(f"{flag} {path} is {other if other == 'the input' else 'also ' + other}; "
                               "give every output its own new path")
        seen[real] = flag
    return chosen


@contextmanager
def atomic_outputs(paths: list[Path], folders: frozenset[int] = frozenset()) -> Iterator[list[Path]]:
    """Temporary paths beside each destination; all are renamed onto their destinations only if the
    block succeeds, so a failure creates or changes no output (folders made for them are removed).

    paths[i] for i in `folders` is a folder output (a temporary folder, then swapped in whole).
    """
    made: list[Path] = []
    for dest in paths:
        missing = []
        parent = dest.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            made.append(folder)
    tmps: list[Path] = []
    try:
        for i, dest in enumerate(paths):
            if i in folders:
                tmps.append(Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)))
                continue
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_umask())
            tmps.append(Path(tmp))
        yield tmps
        for i, (tmp, dest) in enumerate(zip(tmps, paths)):
            if i in folders and dest.exists():  # swap a folder in whole: the old one goes last
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
                os.replace(dest, old / "x")
                os.replace(tmp, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, dest)
    except BaseException:
        for tmp in tmps:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif tmp.exists():
                tmp.unlink()
        for folder in reversed(made):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise


def _input_error(message: str):
    from .errors import InputError

    return InputError(message)
