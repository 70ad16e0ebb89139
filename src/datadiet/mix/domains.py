"""Where the domains of `datadiet mix` come from.

Three sources (`load_domains`):

* a directory of JSONL files, one per domain, named by the file stem (``datadiet corpus build --out DIR``);
* one file (any format `datadiet.io.read_dataset` reads) whose records name their domain in ``domain_field``;
* one file clustered by k-means (`kmeans`, k-means++ init, seeded) on embeddings from `datadiet.embed`
  (``clusters=K``; the hashing embedder by default, for speed); domains are named ``cluster0..``.

Text comes from ``field`` (default "text"). Every problem (missing field, empty domain, unknown
target domain) raises `InputError` with one line naming the file and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from datadiet.errors import InputError
from datadiet.io import read_dataset, record_texts

DEFAULT_EMBEDDER = "hashing"


def kmeans(X: np.ndarray, k: int, *, seed: int = 0, n_iter: int = 100, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ seeding (Arthur & Vassilvitskii 2007).

    Parameters
    ----------
    X : array of shape (n, d), finite
    k : int, 1 <= k <= n
    seed : int, seeds the k-means++ draws (same seed, same result)

    Returns
    -------
    labels : int64 array of shape (n,)
    centers : float64 array of shape (k, d)

    Notes
    -----
    O(n_iter · n · k · d) time, O(n · k) memory for the distance matrix. An emptied cluster is
    re-seeded at the point farthest from its center.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise InputError(f"kmeans needs a non-empty (n, d) matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError("kmeans: the embeddings contain NaN or inf")
    n = X.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise InputError(f"--clusters must be an int in [1, {n}] (the number of records), got {k!r}")
    rng = np.random.default_rng(seed)
    sq = (X * X).sum(axis=1)

    def d2(C: np.ndarray) -> np.ndarray:
        return np.maximum(sq[:, None] - 2.0 * X @ C.T + (C * C).sum(axis=1)[None, :], 0.0)

    centers = np.empty((k, X.shape[1]))
    centers[0] = X[rng.integers(n)]
    closest = d2(centers[:1])[:, 0]
    for j in range(1, k):
        total = closest.sum()
        i = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        centers[j] = X[i]
        closest = np.minimum(closest, d2(centers[j : j + 1])[:, 0])
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(n_iter):
        D = d2(centers)
        labels = D.argmin(axis=1)
        new = centers.copy()
        for j in range(k):
            members = labels == j
            if members.any():
                new[j] = X[members].mean(axis=0)
            else:
                far = int(D[np.arange(n), labels].argmax())
                new[j] = X[far]
                labels[far] = j
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= tol:
            break
    labels = d2(centers).argmin(axis=1)
    return labels.astype(np.int64), centers


def _texts(path: Path, field: str) -> list[str]:
    ds = read_dataset(path)
    if ds.records is None:
        raise InputError(f"{path}: holds embeddings, not text records; give a JSONL/JSON/CSV/Parquet/.txt file")
    return record_texts(ds, field=field)


def load_domains(source: str | os.PathLike, *, field: str = "text", domain_field: str | None = None,
                 clusters: int | None = None, embedder: str = DEFAULT_EMBEDDER, seed: int = 0) -> dict[str, list[str]]:
    """Domain name -> texts, from a directory of JSONL files, a field of one file, or k-means clusters.

    Exactly one way applies: a directory (``domain_field``/``clusters`` must be None), or a file with
    ``domain_field`` or ``clusters`` (not both). Names are sorted; every domain has >= 1 text.
    """
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory; give a folder of per-domain JSONL files or one data file")
    if domain_field is not None and clusters is not None:
        raise InputError("give --domain-field or --clusters, not both")
    if path.is_dir():
        if domain_field is not None or clusters is not None:
            raise InputError(f"{path}: is a directory (one JSONL per domain); --domain-field/--clusters apply to one file")
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in (".jsonl", ".ndjson"))
        if not files:
            raise InputError(f"{path}: holds no .jsonl files; give one JSONL file per domain (e.g. `datadiet corpus build --out DIR`)")
        out: dict[str, list[str]] = {}
        for f in files:
            if f.stat().st_size == 0 or not f.read_text(encoding="utf-8", errors="replace").strip():
                raise InputError(f"domain {f.stem!r} is empty ({f}); every domain needs at least one record")
            if f.stem in out:
                raise InputError(f"{path}: two files give domain {f.stem!r}; rename one")
            out[f.stem] = _texts(f, field)
        return _check(out, str(path))
    if domain_field is None and clusters is None:
        raise InputError(f"{path}: is one file; say how to split it into domains with --domain-field F or --clusters K")
    ds = read_dataset(path)
    if ds.records is None:
        raise InputError(f"{path}: holds embeddings, not text records; give a JSONL/JSON/CSV/Parquet/.txt file")
    texts = record_texts(ds, field=field)
    if domain_field is not None:
        out = {}
        for i, rec in enumerate(ds.records):
            if domain_field not in rec or rec[domain_field] is None or str(rec[domain_field]).strip() == "":
                fields = ", ".join(map(str, rec)) or "(none)"
                raise InputError(f"{ds.row_label(i)}: no --domain-field {domain_field!r} (fields here: {fields})")
            out.setdefault(str(rec[domain_field]), []).append(texts[i])
        return _check(dict(sorted(out.items())), str(path))
    from datadiet.embed import get_embedder
    from datadiet.embed.base import embed_cached

    X = embed_cached(get_embedder(embedder), texts)
    labels, _ = kmeans(X, clusters, seed=seed)
    out = {f"cluster{j}": [texts[i] for i in np.flatnonzero(labels == j)] for j in range(clusters)}
    return _check(out, str(path))


def _check(domains: dict[str, list[str]], where: str) -> dict[str, list[str]]:
    if not domains:
        raise InputError(f"{where}: no domains found")
    for name, texts in domains.items():
        if not texts:
            raise InputError(f"domain {name!r} is empty ({where}); every domain needs at least one record")
    return domains


def load_target(target: str | os.PathLike, domains: dict[str, list[str]], *, field: str = "text",
                holdout: float = 0.5, seed: int = 0) -> tuple[dict[str, list[str]], list[str], str | None]:
    """The target texts: a file, or the name of one of ``domains`` (its held-out split).

    With a domain name, a seeded ``holdout`` fraction of that domain becomes the target (removed
    from training; the domain keeps at least one text). Returns (domains, target_texts, target_domain).
    """
    path = Path(target)
    if path.is_file():
        texts = _texts(path, field)
        if not texts:
            raise InputError(f"{path}: the target holds no texts")
        return domains, texts, None
    name = str(target)
    if path.suffix or os.sep in name or path.is_dir():
        raise InputError(f"--target {name}: no such file; give a data file or the name of a domain ({', '.join(domains)})")
    if name not in domains:
        raise InputError(f"--target {name!r} is neither a file nor a domain; domains are: {', '.join(domains)}")
    texts = list(domains[name])
    if len(texts) < 2:
        raise InputError(f"domain {name!r} has {len(texts)} text; a held-out target split needs at least 2")
    perm = np.random.default_rng(seed).permutation(len(texts))
    n_tgt = min(len(texts) - 1, max(1, int(round(holdout * len(texts)))))
    tgt = [texts[i] for i in sorted(perm[:n_tgt])]
    rest = [texts[i] for i in sorted(perm[n_tgt:])]
    out = dict(domains)
    out[name] = rest
    return out, tgt, name
