"""Word2Vec trained on the texts themselves; a text is the mean of its word vectors.

This is the embedding of "Data Uniformity Improves Training Efficiency" (arXiv 2506.24120): no
pretrained model, the geometry comes from the data being selected. Training is made reproducible
across processes with ``workers=1`` and a stable ``hashfxn`` (gensim's default is Python's
``hash``, which is salted per process, and it seeds every initial word vector).
"""

from __future__ import annotations

import re
import zlib
from typing import Sequence

import numpy as np

from ..errors import InputError
from .base import Progress, check_texts, import_optional, l2_normalize, package_version, require

_TOKEN = re.compile(r"\w+")
_BATCH = 2048
_DEP = dict(package="gensim", extra="word2vec", purpose="the word2vec embedder")


def stable_hash(text: str) -> int:
    """Process-independent replacement for ``hash`` used by gensim to seed word vectors."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def tokenize(text: str) -> list[str]:
    """Lowercase ``\\w+`` tokens (same tokenizer as the hashing embedder)."""
    return _TOKEN.findall(text.lower())


class Word2VecEmbedder:
    """gensim Word2Vec fitted on the input texts at every ``embed`` call, mean-pooled, L2-normalized.

    Parameters are gensim's (defaults as in the paper's setup): vector_size=100, window=5,
    min_count=1, epochs=5, sg=0 (CBOW), seed=0, workers=1. ``workers > 1`` is faster but not
    reproducible (thread scheduling changes the updates).

    gensim trains on at most 10,000 tokens of each text (its batch limit); pooling uses all of them.

    center=True subtracts the mean text vector before normalizing. Means of many word vectors
    share one dominant direction: on gensim's 293-article news sample every pairwise cosine
    distance of the raw means is below 4e-5 (float32 noise decides the selection), after
    centering they spread over 0.003..1.8. Removing the common component is the usual fix
    (Arora et al. 2017, "A Simple but Tough-to-Beat Baseline for Sentence Embeddings";
    Mu & Viswanath 2018, "All-but-the-Top"). center=False gives the plain mean.

    ``progress(done, total)`` counts work units: one per text per training epoch, then one per
    text while pooling, so total = n * (epochs + 1).
    """

    name = "word2vec"

    def __init__(
        self,
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 1,
        epochs: int = 5,
        sg: int = 0,
        seed: int = 0,
        workers: int = 1,
        center: bool = True,
    ):
        for label, value, low in (
            ("vector_size", vector_size, 1), ("window", window, 1), ("min_count", min_count, 1),
            ("epochs", epochs, 1), ("seed", seed, 0), ("workers", workers, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an int >= {low}, got {value!r}")
        if sg not in (0, 1):
            raise ValueError(f"sg must be 0 (CBOW) or 1 (skip-gram), got {sg!r}")
        require("gensim", **_DEP)
        self.vector_size, self.window, self.min_count = vector_size, window, min_count
        self.epochs, self.sg, self.seed, self.workers = epochs, sg, seed, workers
        self.center = bool(center)
        self.dim: int = vector_size
        self.model = None  # the last fitted gensim Word2Vec, for inspection

    @property
    def key(self) -> str:
        return (
            f"word2vec(vector_size={self.vector_size},window={self.window},min_count={self.min_count},"
            f"epochs={self.epochs},sg={self.sg},seed={self.seed},workers={self.workers},"
            f"hashfxn=crc32,tok=\\w+lower,pool=mean,center={self.center},gensim={package_version('gensim')})"
        )

    def __repr__(self) -> str:
        return f"Word2VecEmbedder(vector_size={self.vector_size}, epochs={self.epochs}, seed={self.seed})"

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> np.ndarray:
        """Fit on ``texts`` then embed them -> ndarray of shape (n, vector_size), float32."""
        texts = check_texts(texts)
        n, d = len(texts), self.vector_size
        out = np.zeros((n, d), dtype=np.float32)
        corpus = [tokenize(t) for t in texts]
        total = n * (self.epochs + 1)
        if not any(corpus):
            if progress is not None:
                progress(total, total)
            return out
        models = import_optional("gensim.models", **_DEP)

        class _EpochProgress(models.callbacks.CallbackAny2Vec):
            def __init__(self):
                self.epoch = 0

            def on_epoch_end(self, model):
                self.epoch += 1
                if progress is not None:
                    progress(self.epoch * n, total)

        try:
            model = models.Word2Vec(
                sentences=[c for c in corpus if c],
                vector_size=d, window=self.window, min_count=self.min_count, epochs=self.epochs,
                sg=self.sg, seed=self.seed, workers=self.workers, hashfxn=stable_hash,
                callbacks=[_EpochProgress()],
            )
        except RuntimeError as exc:  # gensim: empty vocabulary after min_count
            raise InputError(f"word2vec: no word occurs min_count={self.min_count} times; lower min_count") from exc
        self.model = model
        kv = model.wv
        index = kv.key_to_index
        vectors = kv.vectors
        sparse = import_optional("scipy.sparse", **_DEP)
        for start in range(0, n, _BATCH):
            stop = min(start + _BATCH, n)
            ids = [[index[w] for w in doc if w in index] for doc in corpus[start:stop]]
            lengths = np.fromiter(map(len, ids), np.int64, stop - start)
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            flat = np.fromiter((i for doc in ids for i in doc), np.int64, int(indptr[-1]))
            # bag-of-words counts (rows = texts) @ word vectors = sum of word vectors per text
            counts = sparse.csr_matrix(
                (np.ones(flat.size, dtype=np.float32), flat, indptr), shape=(stop - start, len(vectors))
            )
            out[start:stop] = (counts @ vectors) / np.maximum(lengths, 1)[:, None]
            if progress is not None:
                progress(n * self.epochs + stop, total)
        if self.center:
            filled = out.any(axis=1)  # token-less texts stay all-zero
            out[filled] -= out[filled].mean(axis=0, dtype=np.float64).astype(np.float32)
        return l2_normalize(out)
