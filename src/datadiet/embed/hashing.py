"""Signed feature hashing of word unigrams + bigrams: no model, no fitting, instant.

Every lowercase ``\\w+`` token and every pair of adjacent tokens is hashed to a 64-bit value that
is the same in every process (crc32 of the UTF-8 token, mixed by the splitmix64 finalizer; a bigram
hashes the pair of its token hashes). Its low bits pick one of ``dim`` buckets, its top bit a sign
(+1/-1, so collisions cancel in expectation, Weinberger et al. 2009); the weight is the sublinear
term frequency ``1 + log(tf)``. Rows are then L2-normalized.
"""

from __future__ import annotations

import re
import zlib
from itertools import chain
from typing import Sequence

import numpy as np

from .. import __version__
from .base import Progress, check_texts, l2_normalize

_TOKEN = re.compile(r"\w+")
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BATCH = 1024  # texts per block: bounds memory (tokens of one block) and paces progress


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Bijective 64-bit mixer (splitmix64 finalizer); uint64 arithmetic wraps modulo 2**64."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class HashingEmbedder:
    """Hashed unigram+bigram bag of words, ``dim`` buckets (default 512), sublinear tf, L2-normalized.

    Parameters
    ----------
    dim : int, default=512
        Number of hash buckets = output dimension.
    bigrams : bool, default=True
        Also hash adjacent token pairs (word order carries some meaning).

    Notes
    -----
    O(total tokens) per call plus a sort per block of 1024 texts; the token -> hash table is kept
    on the instance, so repeated calls only hash new words.
    """

    name = "hashing"

    def __init__(self, dim: int = 512, bigrams: bool = True):
        if isinstance(dim, bool) or not isinstance(dim, int) or not 2 <= dim <= 2**24:
            raise ValueError(f"dim must be an int in [2, 2**24], got {dim!r}")
        self.dim: int = dim
        self.bigrams = bool(bigrams)
        self._vocab: dict[str, int] = {}
        self._hashes = np.empty(0, dtype=np.uint64)

    @property
    def key(self) -> str:
        return f"hashing(dim={self.dim},bigrams={self.bigrams},tok=\\w+lower,hash=crc32+splitmix64,tf=1+log,v1,datadiet={__version__})"

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self.dim}, bigrams={self.bigrams})"

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` -> ndarray of shape (n, dim), float32; token-less texts give zero rows."""
        texts = check_texts(texts)
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        for start in range(0, n, _BATCH):
            stop = min(start + _BATCH, n)
            out[start:stop] = self._embed_block(texts[start:stop])
            if progress is not None:
                progress(stop, n)
        return l2_normalize(out)

    def _token_hashes(self, tokens: list[str]) -> np.ndarray:
        """Stable 64-bit hash per token, via the cached vocabulary."""
        vocab = self._vocab
        setdefault = vocab.setdefault
        ids = [setdefault(t, len(vocab)) for t in tokens]
        known = len(self._hashes)
        if len(vocab) > known:
            new = list(vocab)[known:]
            crc = np.fromiter((zlib.crc32(w.encode("utf-8", "surrogatepass")) for w in new), np.uint64, len(new))
            self._hashes = np.concatenate([self._hashes, _splitmix64(crc)])
        return self._hashes[np.asarray(ids, dtype=np.int64)]

    def _embed_block(self, texts: list[str]) -> np.ndarray:
        n, dim = len(texts), self.dim
        per_doc = [_TOKEN.findall(t.lower()) for t in texts]
        lengths = np.fromiter(map(len, per_doc), np.int64, n)
        block = np.zeros((n, dim), dtype=np.float64)
        if lengths.sum() == 0:
            return block
        h = self._token_hashes(list(chain.from_iterable(per_doc)))
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        if self.bigrams and len(h) > 1:
            same = doc[1:] == doc[:-1]  # pairs never cross a text boundary
            pair = _splitmix64(h[:-1][same] * _GOLDEN + h[1:][same] + np.uint64(1))
            h = np.concatenate([h, pair])
            doc = np.concatenate([doc, doc[:-1][same]])
        # Count each (text, feature) once: key = text index in the high bits, 32-bit feature below.
        feat = h >> np.uint64(32)
        keys, tf = np.unique((doc.astype(np.uint64) << np.uint64(32)) | feat, return_counts=True)
        rows = (keys >> np.uint64(32)).astype(np.int64)
        feat = keys & np.uint64(0xFFFFFFFF)
        bucket = (feat % np.uint64(dim)).astype(np.int64)
        sign = np.where(feat >> np.uint64(31), -1.0, 1.0)
        weight = sign * (1.0 + np.log(tf))
        block += np.bincount(rows * dim + bucket, weights=weight, minlength=n * dim).reshape(n, dim)
        return block
