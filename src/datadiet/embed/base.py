"""The Embedder protocol, the name -> embedder registry and the on-disk embedding cache.

An embedder maps texts to float32 vectors of shape (n, d) whose rows are L2-normalized, so that
cosine distance (what ``select``'s greedy max-min uses) is ``1 - x @ y``. A text with no token
(empty, blank, or nothing the embedder can read) gets an all-zero row: nothing is invented for it,
and the caller can find such rows with ``~vectors.any(axis=1)`` and report them.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..io import check_texts as _check_text_list
from ..paths import cache_dir
from .cache import SUFFIX, CacheEntryError, Expected, load_entry, problem, write_entry

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called once per batch so a CLI can drive a progress bar."""

EMBEDDERS: tuple[str, ...] = ("hashing", "word2vec", "static", "minilm")


@runtime_checkable
class Embedder(Protocol):
    """Texts -> float32 array of shape (n, dim), rows L2-normalized, all-zero for token-less texts."""

    name: str
    dim: int | None  # None when only known after fitting (never for the built-in ones)

    @property
    def key(self) -> str:
        """Name, every setting and the model/package versions: two embedders with equal keys give
        equal vectors. Part of the cache key."""
        ...

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts``; returns ndarray of shape (len(texts), dim), dtype float32."""
        ...


# ----------------------------------------------------------------------------- shared helpers


def check_texts(texts) -> list[str]:
    """Validate texts at an embedder's boundary: a sequence of str (``io.check_texts``), none holding
    a lone surrogate.

    A JSON string may hold an escape such as ``"\\ud800"`` that is not a character: Python keeps it
    as a surrogate code point that UTF-8 cannot encode, and tokenizers crash on it (model2vec raises
    a bare TypeError). Refusing it here gives one message naming the text and the fix instead.
    """
    out = _check_text_list(texts)
    for i, t in enumerate(out):
        if not t.isascii():  # O(1) in CPython; most texts skip the encode below
            _check_encodable(i, t)
    return out


def _check_encodable(i: int, text: str) -> None:
    """Raise InputError if ``text`` (the i-th) holds a surrogate code point, UTF-8's only failure."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            f"text {i} holds an unpaired surrogate (\\u{ord(text[exc.start]):04x}); fix or remove it"
        ) from None


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization in place (float32); all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def require(module: str, *, package: str, extra: str, purpose: str) -> None:
    """Raise MissingDependencyError unless ``module`` is importable; does not import it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise MissingDependencyError(package, extra, purpose)


def import_optional(module: str, *, package: str, extra: str, purpose: str):
    """Import an optional heavy package, mapping ImportError to MissingDependencyError."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package, extra, purpose) from exc


def package_version(dist: str) -> str:
    """Installed version of a distribution, or 'missing' (keys stay computable without it)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def force_offline() -> None:
    """Forbid any model-hub download: set before model2vec / transformers are imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


# ----------------------------------------------------------------------------- registry


def get_embedder(name: str, **options) -> Embedder:
    """Build the embedder called ``name`` (one of EMBEDDERS) with keyword ``options``.

    Raises InputError for an unknown name or option, MissingDependencyError when the
    embedder's optional extra is not installed.
    """
    key = str(name).strip().lower()
    if key == "hashing":
        from .hashing import HashingEmbedder as cls
    elif key == "word2vec":
        from .word2vec import Word2VecEmbedder as cls
    elif key == "static":
        from .static import StaticEmbedder as cls
    elif key == "minilm":
        from .minilm import MiniLMEmbedder as cls
    else:
        raise InputError(f"unknown embedder {name!r}; choose one of: {', '.join(EMBEDDERS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise InputError(f"bad option for embedder {key!r}: {exc}") from exc


# ----------------------------------------------------------------------------- cache


@dataclass(frozen=True)
class CacheInfo:
    """Where ``embed_cached`` looked and whether it found the vectors there."""

    hit: bool
    path: Path | None
    digest: str


def cache_digest(embedder: Embedder, texts: Sequence[str]) -> str:
    """sha256 over the embedder key and every text, each length-prefixed so boundaries count."""
    h = hashlib.sha256()

    def put(b: bytes) -> None:
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)

    put(embedder.key.encode("utf-8"))
    h.update(len(texts).to_bytes(8, "little"))
    for t in texts:
        put(t.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def cache_path(embedder: Embedder, digest: str) -> Path:
    """Where the entry for ``digest`` lives: ``cache_dir("embeddings")/<name>-<digest[:16]>.npz``."""
    return cache_dir("embeddings") / f"{embedder.name}-{digest[:16]}{SUFFIX}"


def embed_cached(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    cache: bool = True,
    progress: Progress | None = None,
    return_info: bool = False,
):
    """``embedder.embed(texts)``, memoized on disk.

    The entry is ``cache_dir("embeddings") / f"{embedder.name}-{digest[:16]}.npz"`` where digest is
    :func:`cache_digest`; it holds the vectors and their metadata (embedder key, digest, shape, dtype,
    sha256; see :mod:`datadiet.embed.cache`) and is written atomically, so a crash or a concurrent run
    never leaves a torn file. A second call with the same embedder key and texts loads it instead of
    embedding, once every check passed; an entry that fails one is logged as a warning naming the file
    and the reason, recomputed and rewritten. Entries of the older ``.npy`` format are not read.

    Returns
    -------
    vectors : ndarray of shape (n, d), float32
    info : CacheInfo, only when ``return_info=True`` (``info.hit`` is True when loaded from disk)
    """
    texts = check_texts(texts)
    digest = cache_digest(embedder, texts)
    path = cache_path(embedder, digest) if cache else None
    expected = Expected(embedder.key, digest, len(texts), embedder.dim)
    vectors = _load_verified(path, expected) if path is not None else None
    hit = vectors is not None
    if vectors is None:
        vectors = embedder.embed(texts, progress=progress)
        if path is not None:
            _store(path, vectors, expected)
    elif progress is not None:
        progress(len(texts), len(texts))
    info = CacheInfo(hit=hit, path=path, digest=digest)
    return (vectors, info) if return_info else vectors


def _load_verified(path: Path, expected: Expected) -> np.ndarray | None:
    """The entry's vectors if it exists and passes every check; None (and a warning) otherwise."""
    try:
        return load_entry(path, expected)
    except FileNotFoundError:
        return None  # a plain miss
    except CacheEntryError as exc:
        logger.warning("ignoring cache entry %s: %s; recomputing the embeddings", path, exc)
        return None


def _store(path: Path, vectors: np.ndarray, expected: Expected) -> None:
    """Write the entry, unless it could never verify; a cache that cannot be written costs only speed,
    so a failure is a warning, not an error of the run."""
    reason = problem(vectors, expected)
    if reason is not None:  # an embedder bug: caching it would only give a warning on every rerun
        logger.warning("not caching embeddings at %s: the embedder's output %s", path, reason)
        return
    try:
        write_entry(path, vectors, expected)
    except OSError as exc:
        logger.warning("could not write cache entry %s: %s", path, exc)
