"""The on-disk format of one embedding cache entry, and its verification.

An entry is one ``.npz`` file (a zip archive, stored uncompressed) holding two parts:

- ``vectors.npy``: the float32 array of shape (n, d), C order;
- ``meta.npy``: a 0-d unicode array holding one JSON object::

      {"format": "datadiet-embedding-cache", "version": 1,
       "embedder_key": <embedder.key>, "texts_digest": <cache_digest(embedder, texts)>,
       "shape": [n, d], "dtype": "float32", "sha256": <hex sha256 of the vector bytes>}

Both parts live in one file so that a single atomic rename publishes them together: a reader sees
the old entry, the new one or none, never vectors from one write and metadata from another.

A cache file is untrusted input (a crash on a filesystem without ordered writes, a disk error, a
hand-edited or foreign file): :func:`load_entry` checks every field, the npy header, the checksum and
that every value is finite before it returns the vectors, and raises :class:`CacheEntryError` saying
what was wrong otherwise. Only numeric and unicode arrays are read (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO

import numpy as np

from ..paths import atomic_path

FORMAT = "datadiet-embedding-cache"
VERSION = 1
SUFFIX = ".npz"

_VECTORS = "vectors.npy"  # np.savez names a keyword argument's member "<name>.npy"
_META = "meta.npy"
_META_MAX_BYTES = 1 << 20  # a real metadata part is a few hundred bytes; refuse to read a huge one
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}

# What reading a garbled or foreign file can raise (zipfile, zlib and numpy's npy reader): any of
# these means "not a usable entry", never a crash of the run.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError)


class CacheEntryError(Exception):
    """A cache file is not a valid entry for the expected embedder and texts; the message says why."""


@dataclass(frozen=True)
class Expected:
    """What a valid entry for one (embedder, texts) pair must hold.

    ``dim`` is None when the embedder does not know its dimension up front; the entry's own is then
    accepted (it is still covered by the checksum).
    """

    embedder_key: str
    texts_digest: str
    n: int
    dim: int | None


def checksum(vectors: np.ndarray) -> str:
    """Hex sha256 of the array's bytes in C order (what ``vectors.npy`` stores after its header)."""
    return hashlib.sha256(np.ascontiguousarray(vectors)).hexdigest()


def problem(vectors: np.ndarray, expected: Expected) -> str | None:
    """Why ``vectors`` cannot be a valid entry for ``expected`` (dtype, shape, NaN/inf), or None."""
    if not isinstance(vectors, np.ndarray) or vectors.dtype != np.float32:
        return f"dtype is {getattr(vectors, 'dtype', type(vectors).__name__)}, not float32"
    dim = expected.dim if expected.dim is not None else (vectors.shape[1] if vectors.ndim == 2 else None)
    if vectors.shape != (expected.n, dim):
        return f"shape is {_fmt(vectors.shape)}, expected {_fmt((expected.n, dim))}"
    if not np.isfinite(vectors).all():
        bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        return f"row {bad} holds NaN or inf"
    return None


def write_entry(path: str | os.PathLike, vectors: np.ndarray, expected: Expected) -> None:
    """Write ``vectors`` and their metadata as one entry at ``path``, atomically.

    The data goes to a unique temporary file beside ``path`` that is renamed onto it, so concurrent
    writers of the same entry never interleave and a reader never sees a partial file; the last
    rename wins, and both writers wrote the same bytes anyway.
    """
    vectors = np.ascontiguousarray(vectors)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "embedder_key": expected.embedder_key,
        "texts_digest": expected.texts_digest,
        "shape": list(vectors.shape),
        "dtype": str(vectors.dtype),
        "sha256": checksum(vectors),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, vectors=vectors, meta=np.array(json.dumps(meta, sort_keys=True)))


def load_entry(path: str | os.PathLike, expected: Expected) -> np.ndarray:
    """The vectors stored at ``path`` once every check passed; raises CacheEntryError otherwise.

    A missing file raises FileNotFoundError (a plain miss, not a corruption).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            meta = _read_meta(zf)
            shape = _check_meta(meta, expected)
            vectors = _read_vectors(zf, shape)
    except FileNotFoundError:
        raise
    except zipfile.BadZipFile as exc:
        raise CacheEntryError(f"not a datadiet cache entry or truncated ({exc})") from exc
    except _READ_ERRORS as exc:
        raise CacheEntryError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if checksum(vectors) != meta["sha256"]:
        raise CacheEntryError("checksum mismatch: the vectors were changed after they were written")
    reason = problem(vectors, expected)
    if reason is not None:
        raise CacheEntryError(reason)
    return vectors


# ----------------------------------------------------------------------------- helpers


def _fmt(shape) -> str:
    return "x".join(str(s) for s in shape)


def _member(zf: zipfile.ZipFile, name: str, label: str) -> zipfile.ZipInfo:
    """The archive member ``name``, or CacheEntryError naming the missing part."""
    try:
        return zf.getinfo(name)
    except KeyError:
        raise CacheEntryError(f"no {label} part ({name}); not a datadiet cache entry") from None


def _read_meta(zf: zipfile.ZipFile) -> dict:
    """Parse the metadata part: a 0-d unicode npy array holding one JSON object of our format."""
    info = _member(zf, _META, "metadata")
    if info.file_size > _META_MAX_BYTES:
        raise CacheEntryError(f"metadata part is {info.file_size} bytes; garbled")
    with zf.open(info) as fh:
        arr = np.lib.format.read_array(fh, allow_pickle=False)
    if arr.ndim != 0 or arr.dtype.kind != "U":
        raise CacheEntryError(f"metadata part is a {arr.dtype} array of shape {arr.shape}, not a JSON string")
    try:
        meta = json.loads(arr.item())
    except ValueError as exc:
        raise CacheEntryError(f"metadata part is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CacheEntryError(f"metadata does not mark a {FORMAT} entry")
    if meta.get("version") != VERSION:
        raise CacheEntryError(f"format version {meta.get('version')!r}, this datadiet reads {VERSION}")
    return meta


def _check_meta(meta: dict, expected: Expected) -> tuple[int, int]:
    """Compare the metadata with what the caller expects; returns the (n, d) shape to read."""
    if meta.get("embedder_key") != expected.embedder_key:
        raise CacheEntryError(f"written by embedder {meta.get('embedder_key')!r}, expected {expected.embedder_key!r}")
    if meta.get("texts_digest") != expected.texts_digest:
        raise CacheEntryError("texts digest differs: the entry is for other texts")
    if meta.get("dtype") != "float32":
        raise CacheEntryError(f"metadata dtype is {meta.get('dtype')!r}, not 'float32'")
    if not isinstance(meta.get("sha256"), str):
        raise CacheEntryError("metadata has no sha256 checksum")
    shape = meta.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise CacheEntryError(f"metadata shape {shape!r} is not [rows, dim]")
    dim = expected.dim if expected.dim is not None else shape[1]
    if tuple(shape) != (expected.n, dim):
        raise CacheEntryError(f"holds {_fmt(shape)} vectors, expected {_fmt((expected.n, dim))}")
    return shape[0], shape[1]


def _read_vectors(zf: zipfile.ZipFile, shape: tuple[int, int]) -> np.ndarray:
    """Read the vectors part after checking its npy header, so a garbled header never makes us
    allocate or read more than the expected array."""
    info = _member(zf, _VECTORS, "vectors")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read_header = _NPY_HEADERS.get(version)
        if read_header is None:
            raise CacheEntryError(f"vectors part has npy format version {version}")
        got_shape, fortran_order, dtype = read_header(fh)
        if got_shape != shape or fortran_order or dtype != np.dtype(np.float32):
            order = "F" if fortran_order else "C"
            raise CacheEntryError(f"vectors part is {dtype} {_fmt(got_shape)} ({order} order), "
                                  f"metadata says float32 {_fmt(shape)}")
        out = np.empty(shape, dtype=np.float32)
        _read_exactly(fh, out)
    return out


def _read_exactly(fh: IO[bytes], out: np.ndarray) -> None:
    """Fill ``out`` from ``fh``; a short read means a truncated file."""
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        got = fh.readinto(view[done:])
        if not got:
            raise CacheEntryError(f"truncated: vectors part holds {done} of {len(view)} bytes")
        done += got
