"""Bytes in and out: gunzip, strict UTF-8 with the BOM noted, lines with their endings, gzip on write.

Readers keep each record's text and line ending so that write-back copies the input's bytes.
"""

from __future__ import annotations

import gzip
import os
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..errors import InputError
from ..paths import atomic_path

BOM = "\ufeff"
_FLUSH_BYTES = 1 << 20  # write in ~1 MiB pieces: few calls into gzip/the OS, bounded memory


def one_line(exc: BaseException, limit: int = 200) -> str:
    """A library's error message squeezed onto one short line (some span several)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_bytes(path: Path, gz: bool) -> bytes:
    """The file's bytes, gunzipped when `gz`; refuses an unreadable, corrupt or empty file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    if not gz:
        return data
    try:
        data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; EOFError: cut short
        raise InputError(f"{path}: not a valid gzip file ({one_line(exc)}); re-compress it with gzip") from None
    if not data:
        raise InputError(f"{path}: is empty once decompressed; give a file with at least one record")
    return data


def decode_utf8(path: Path, data: bytes) -> tuple[str, bool]:
    """(text without its BOM, whether the data began with a UTF-8 BOM); refuses non-UTF-8 bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-encode the file as UTF-8"
        ) from None
    if text.startswith(BOM):
        return text[1:], True
    return text, False


def split_lines(text: str) -> list[tuple[str, str]]:
    """(line, ending) pairs, ending "\\n", "\\r\\n" or "" for a last line without one.

    Splits on "\\n" only: str.splitlines would also cut at U+2028, U+0085 or \\x1c, which JSON strings
    may hold unescaped (json.dumps(..., ensure_ascii=False) writes them as they are).
    """
    parts = text.split("\n")
    last = parts.pop()  # what follows the final "\n": "" when the text ends with one
    lines = [(p[:-1], "\r\n") if p.endswith("\r") else (p, "\n") for p in parts]
    if last:
        # a stray CR at the very end is no line ending of its own; the writer adds the file's one
        lines.append((last[:-1] if last.endswith("\r") else last, ""))
    return lines


def first_ending(endings: Iterable[str], default: str = "\n") -> str:
    """The file's line ending (its first one), given to a last line that had none."""
    return next((e for e in endings if e), default)


@contextmanager
def open_output(out: str | os.PathLike, compress: bool) -> Iterator[BinaryIO]:
    """A binary handle whose bytes land at `out` atomically, gzipped when `compress`.

    The gzip header holds no name or time, so the same records always give the same bytes.
    """
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        if not compress:
            yield fh
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz:
            yield gz


def write_texts(out: str | os.PathLike, pieces: Iterable[str], *, bom: bool = False, compress: bool = False) -> None:
    """Write the UTF-8 bytes of `pieces` to `out` (atomically), after a BOM when `bom`."""
    with open_output(out, compress) as fh:
        buf: list[bytes] = [BOM.encode("utf-8")] if bom else []
        size = 0
        for piece in pieces:
            data = piece.encode("utf-8")
            buf.append(data)
            size += len(data)
            if size >= _FLUSH_BYTES:
                fh.write(b"".join(buf))
                buf, size = [], 0
        fh.write(b"".join(buf))
