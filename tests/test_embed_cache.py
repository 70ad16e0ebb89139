"""The embedding cache is never trusted blindly: every corruption is caught, logged, recomputed, rewritten.

Each test builds a real entry with ``embed_cached``, damages it, and checks that the next call
(1) logs a warning naming the file and what was wrong, (2) returns exactly ``embedder.embed(texts)``,
and (3) leaves a valid entry behind (the call after it is a silent hit that never embeds).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import os

import numpy as np
import pytest

from datadiet.embed import cache_digest, embed_cached, get_embedder
from datadiet.embed.cache import FORMAT, VERSION
from datadiet.errors import InputError, MissingDependencyError

TEXTS = [
    "the cat sat on the mat", "a cat is sitting on a mat", "quarterly revenue rose by 5 percent",
    "how do I bake bread at home", "the striker scored twice in the final", "", "tea or coffee",
    "eight words make a row here for tests", "nine", "ten little words",
]
LOGGER = "datadiet.embed.base"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))


def _available(name: str) -> bool:
    try:
        get_embedder(name)
    except MissingDependencyError:
        return False
    return True


def _cache_folder():
    from datadiet.paths import cache_dir

    return cache_dir("embeddings")


def _embedder():
    return get_embedder("hashing", dim=64)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def _write_npz(path, **parts) -> None:
    """Write an .npz with the given parts (meta given as a dict is JSON-encoded like the real one)."""
    if isinstance(parts.get("meta"), dict):
        parts["meta"] = np.array(json.dumps(parts["meta"]))
    buf = io.BytesIO()
    np.savez(buf, **parts)
    path.write_bytes(buf.getvalue())


def _read_entry(path):
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["meta", "vectors"]
        return npz["vectors"], json.loads(npz["meta"].item())


def _consistent_meta(meta: dict, vectors: np.ndarray) -> dict:
    """The metadata a forger would write for ``vectors``: shape, dtype and checksum all agree."""
    vectors = np.ascontiguousarray(vectors)
    return {**meta, "shape": list(vectors.shape), "dtype": str(vectors.dtype),
            "sha256": hashlib.sha256(vectors.tobytes()).hexdigest()}


def _assert_valid_entry(emb, texts, path, caplog, monkeypatch) -> None:
    """The entry at ``path`` is a silent hit holding exactly ``emb.embed(texts)``."""
    fresh = emb.embed(texts)
    vectors, meta = _read_entry(path)
    assert meta == {"format": FORMAT, "version": VERSION, "embedder_key": emb.key,
                    "texts_digest": cache_digest(emb, texts), "shape": list(fresh.shape),
                    "dtype": "float32", "sha256": hashlib.sha256(fresh.tobytes()).hexdigest()}
    np.testing.assert_array_equal(vectors, fresh)
    caplog.clear()
    with monkeypatch.context() as m:
        m.setattr(emb, "embed", lambda *a, **k: pytest.fail("embed called on a valid entry"))
        again, info = embed_cached(emb, texts, return_info=True)
    assert info.hit and info.path == path and not _warnings(caplog)
    np.testing.assert_array_equal(again, fresh)


def _assert_recovers(emb, texts, path, caplog, monkeypatch, reason: str) -> None:
    """The damaged entry is refused with a warning naming ``path`` and ``reason``, then rewritten."""
    caplog.clear()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    X, info = embed_cached(emb, texts, return_info=True)
    assert not info.hit and info.path == path
    messages = _warnings(caplog)
    assert len(messages) == 1, messages
    assert str(path) in messages[0] and reason in messages[0], messages[0]
    np.testing.assert_array_equal(X, emb.embed(texts))
    assert X.dtype == np.float32
    _assert_valid_entry(emb, texts, path, caplog, monkeypatch)


def _entry(emb, texts):
    X, info = embed_cached(emb, texts, return_info=True)
    assert not info.hit and info.path.suffix == ".npz" and info.path.is_file()
    return X, info.path


# ----------------------------------------------------------------------------- the format


def test_entry_records_key_digest_shape_dtype_and_checksum(caplog, monkeypatch):
    emb = _embedder()
    _, path = _entry(emb, TEXTS)
    assert path.name == f"hashing-{cache_digest(emb, TEXTS)[:16]}.npz"
    _assert_valid_entry(emb, TEXTS, path, caplog, monkeypatch)
    assert not [p for p in path.parent.iterdir() if p != path], "no temporary file is left behind"


def test_old_npy_entry_is_ignored_without_warning(caplog, monkeypatch):
    """The previous format (a bare .npy, here with permuted rows) is not read at all: a plain miss."""
    emb = _embedder()
    digest = cache_digest(emb, TEXTS)
    old = emb.embed(TEXTS)[::-1].copy()
    legacy = _cache_folder() / f"hashing-{digest[:16]}.npy"
    np.save(legacy, old)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    X, info = embed_cached(emb, TEXTS, return_info=True)
    assert not info.hit and info.path.suffix == ".npz" and not _warnings(caplog)
    np.testing.assert_array_equal(X, emb.embed(TEXTS))
    _assert_valid_entry(emb, TEXTS, info.path, caplog, monkeypatch)


# ----------------------------------------------------------------------------- every corruption

# Each damage(path, vectors, meta) rewrites a valid entry; CORRUPTIONS pairs it with the words the
# warning must hold.


def _truncate_half(path, X, meta):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncate_end(path, X, meta):  # cuts only the zip's central directory
    data = path.read_bytes()
    path.write_bytes(data[:-10])


def _empty(path, X, meta):
    path.write_bytes(b"")


def _permuted(path, X, meta):
    _write_npz(path, vectors=X[np.random.default_rng(0).permutation(len(X))], meta=meta)


def _nan_keeping_meta(path, X, meta):
    Y = X.copy()
    Y[7, 3] = np.nan
    _write_npz(path, vectors=Y, meta=meta)


def _nan_consistent_meta(path, X, meta):
    Y = X.copy()
    Y[7, 3] = np.nan
    _write_npz(path, vectors=Y, meta=_consistent_meta(meta, Y))


def _inf_consistent_meta(path, X, meta):
    Y = X.copy()
    Y[2, 0] = -np.inf
    _write_npz(path, vectors=Y, meta=_consistent_meta(meta, Y))


def _fewer_columns_consistent_meta(path, X, meta):
    Y = np.ascontiguousarray(X[:, :10])
    _write_npz(path, vectors=Y, meta=_consistent_meta(meta, Y))


def _fewer_columns_keeping_meta(path, X, meta):
    _write_npz(path, vectors=np.ascontiguousarray(X[:, :10]), meta=meta)


def _fewer_rows_consistent_meta(path, X, meta):
    Y = np.ascontiguousarray(X[:-1])
    _write_npz(path, vectors=Y, meta=_consistent_meta(meta, Y))


def _float64(path, X, meta):
    Y = X.astype(np.float64)
    _write_npz(path, vectors=Y, meta=_consistent_meta(meta, Y))


def _float64_meta_says_float32(path, X, meta):
    _write_npz(path, vectors=X.astype(np.float64), meta=meta)


def _fortran_order(path, X, meta):
    _write_npz(path, vectors=np.asfortranarray(X), meta=meta)


def _flipped_byte(path, X, meta):
    data = bytearray(path.read_bytes())
    at = data.index(X.tobytes()[:64]) + 200  # inside the vector bytes
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _old_npy_bytes(path, X, meta):
    buf = io.BytesIO()
    np.save(buf, X)
    path.write_bytes(buf.getvalue())


def _text_file(path, X, meta):
    path.write_text("not an entry\n")


def _foreign_npz(path, X, meta):
    _write_npz(path, x=X)


def _no_meta(path, X, meta):
    _write_npz(path, vectors=X)


def _no_vectors(path, X, meta):
    _write_npz(path, meta=meta)


def _meta_not_json(path, X, meta):
    _write_npz(path, vectors=X, meta=np.array("{not json"))


def _meta_json_list(path, X, meta):
    _write_npz(path, vectors=X, meta=np.array("[1, 2]"))


def _meta_numbers(path, X, meta):
    _write_npz(path, vectors=X, meta=np.arange(3))


def _meta_other_format(path, X, meta):
    _write_npz(path, vectors=X, meta={**meta, "format": "something-else"})


def _meta_other_version(path, X, meta):
    _write_npz(path, vectors=X, meta={**meta, "version": VERSION + 1})


def _meta_no_checksum(path, X, meta):
    _write_npz(path, vectors=X, meta={k: v for k, v in meta.items() if k != "sha256"})


def _meta_bad_shape(path, X, meta):
    _write_npz(path, vectors=X, meta={**meta, "shape": "10x64"})


def _meta_other_key(path, X, meta):
    _write_npz(path, vectors=X, meta={**meta, "embedder_key": "hashing(dim=64,other)"})


def _meta_other_digest(path, X, meta):
    _write_npz(path, vectors=X, meta={**meta, "texts_digest": "0" * 64})


def _meta_pickled_object(path, X, meta):
    buf = io.BytesIO()
    np.savez(buf, vectors=X, meta=np.array([meta], dtype=object))  # needs pickle to read: refused
    path.write_bytes(buf.getvalue())


def _folder_in_the_way(path, X, meta):
    path.unlink()
    path.mkdir()


CORRUPTIONS = {
    "truncated half": (_truncate_half, "truncated"),
    "truncated end": (_truncate_end, "truncated"),
    "empty file": (_empty, "truncated"),
    "permuted rows": (_permuted, "checksum mismatch"),
    "NaN, old metadata": (_nan_keeping_meta, "checksum mismatch"),
    "NaN, consistent metadata": (_nan_consistent_meta, "row 7 holds NaN"),
    "inf, consistent metadata": (_inf_consistent_meta, "row 2 holds NaN or inf"),
    "10 columns, consistent metadata": (_fewer_columns_consistent_meta, "holds 10x10 vectors, expected 10x64"),
    "10 columns, old metadata": (_fewer_columns_keeping_meta, "vectors part is float32 10x10"),
    "fewer rows": (_fewer_rows_consistent_meta, "holds 9x64 vectors, expected 10x64"),
    "float64": (_float64, "metadata dtype is 'float64'"),
    "float64 under float32 metadata": (_float64_meta_says_float32, "vectors part is float64"),
    "fortran order": (_fortran_order, "(F order)"),
    "flipped byte": (_flipped_byte, ""),  # zip CRC or sha256, whichever notices first
    "old .npy bytes": (_old_npy_bytes, "not a datadiet cache entry"),
    "text file": (_text_file, "not a datadiet cache entry"),
    "foreign npz": (_foreign_npz, "no metadata part"),
    "no metadata": (_no_meta, "no metadata part"),
    "no vectors": (_no_vectors, "no vectors part"),
    "metadata not JSON": (_meta_not_json, "not valid JSON"),
    "metadata a JSON list": (_meta_json_list, "does not mark a datadiet-embedding-cache entry"),
    "metadata numbers": (_meta_numbers, "not a JSON string"),
    "metadata other format": (_meta_other_format, "does not mark a datadiet-embedding-cache entry"),
    "metadata other version": (_meta_other_version, f"format version {VERSION + 1}"),
    "metadata without checksum": (_meta_no_checksum, "no sha256"),
    "metadata bad shape": (_meta_bad_shape, "is not [rows, dim]"),
    "other embedder key": (_meta_other_key, "written by embedder 'hashing(dim=64,other)'"),
    "other texts digest": (_meta_other_digest, "texts digest differs"),
    "pickled metadata": (_meta_pickled_object, "unreadable"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupt_entry_is_logged_recomputed_and_rewritten(name, caplog, monkeypatch):
    damage, reason = CORRUPTIONS[name]
    emb = _embedder()
    X, path = _entry(emb, TEXTS)
    _, meta = _read_entry(path)
    damage(path, X, meta)
    _assert_recovers(emb, TEXTS, path, caplog, monkeypatch, reason)


def test_4000x10_in_place_of_4000x64_is_refused(caplog, monkeypatch):
    """The case that used to pass: same row count, other dimension."""
    emb = _embedder()
    texts = [f"text number {i} about topic {i % 13}" for i in range(4000)]
    X, path = _entry(emb, texts)
    _, meta = _read_entry(path)
    _fewer_columns_consistent_meta(path, X, meta)
    _assert_recovers(emb, texts, path, caplog, monkeypatch, "holds 4000x10 vectors, expected 4000x64")


def test_folder_in_place_of_the_entry_warns_twice_and_still_returns_the_vectors(caplog):
    """A path that can be neither read nor replaced costs only the cache, never the run."""
    emb = _embedder()
    X, path = _entry(emb, TEXTS)
    _folder_in_the_way(path, X, None)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    Y, info = embed_cached(emb, TEXTS, return_info=True)
    messages = _warnings(caplog)
    assert not info.hit and len(messages) == 2 and all(str(path) in m for m in messages)
    assert "ignoring cache entry" in messages[0] and "could not write" in messages[1]
    np.testing.assert_array_equal(Y, emb.embed(TEXTS))


class _NaNEmbedder:
    """A broken embedder whose output holds NaN: its vectors are returned but never cached."""

    name, dim, key = "broken", 4, "broken(v1)"

    def embed(self, texts, *, progress=None):
        X = np.ones((len(texts), self.dim), dtype=np.float32)
        X[1, 2] = np.nan
        return X


def test_non_finite_embedder_output_is_not_cached(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    X, info = embed_cached(_NaNEmbedder(), ["a", "b", "c"], return_info=True)
    assert not info.hit and not info.path.exists() and np.isnan(X[1, 2])
    messages = _warnings(caplog)
    assert len(messages) == 1 and "not caching" in messages[0] and "row 1 holds NaN" in messages[0]


# ----------------------------------------------------------------------------- concurrent runs


def _race_texts(round_: int) -> list[str]:
    return [f"round {round_} text {i} words {i % 11} more {i % 5}" for i in range(300)]


HAMMER_TEXTS = [f"a longer shared text {i} with words {i % 17} and {i % 3}" for i in range(2000)]


def _race_worker(rank: int, cache: str, rounds: int, barrier, out: str) -> None:
    """One of two processes sharing one cache folder.

    First both embed the same texts at the same moment, every round (both miss, both write the entry).
    Then rank 0 rewrites one entry over and over while rank 1 keeps loading it: every load must be a
    verified hit, which only holds if no reader ever sees a partly written file.
    """
    from datadiet.embed.cache import Expected, write_entry

    os.environ["DATADIET_CACHE"] = cache
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    logging.getLogger("datadiet").addHandler(Keep(logging.WARNING))
    emb = get_embedder("hashing")
    results, hits = [], []
    for r in range(rounds):
        barrier.wait(timeout=120)
        X, info = embed_cached(emb, _race_texts(r), return_info=True)
        results.append(X)
        hits.append(info.hit)
    X, info = embed_cached(emb, HAMMER_TEXTS, return_info=True)  # both hold the entry from here on
    barrier.wait(timeout=120)
    expected = Expected(emb.key, info.digest, len(HAMMER_TEXTS), emb.dim)
    hammer_ok = True
    for _ in range(30):
        if rank == 0:
            write_entry(info.path, X, expected)
        else:
            Y, again = embed_cached(emb, HAMMER_TEXTS, return_info=True)
            hammer_ok &= again.hit and np.array_equal(X, Y)
    np.save(out + ".npy", np.stack(results))
    with open(out + ".json", "w") as fh:
        json.dump({"warnings": warnings, "hits": hits, "hammer_ok": bool(hammer_ok)}, fh)


def test_two_processes_writing_and_reading_the_same_entries_at_once(tmp_path, caplog, monkeypatch):
    cache, rounds = tmp_path / "cache", 8
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_race_worker, args=(i, str(cache), rounds, barrier, str(tmp_path / f"p{i}")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    emb = get_embedder("hashing")
    expected = np.stack([emb.embed(_race_texts(r)) for r in range(rounds)])
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"p{i}.npy"), expected)
        report = json.loads((tmp_path / f"p{i}.json").read_text())
        assert report["warnings"] == [], report["warnings"]  # neither ever read a torn entry
        assert report["hammer_ok"]
    folder = cache / "embeddings"
    assert sorted(p.suffix for p in folder.iterdir()) == [".npz"] * (rounds + 1)  # no temporary file left
    for texts in [_race_texts(r) for r in range(rounds)] + [HAMMER_TEXTS]:
        path = folder / f"hashing-{cache_digest(emb, texts)[:16]}.npz"
        _assert_valid_entry(emb, texts, path, caplog, monkeypatch)


# ----------------------------------------------------------------------------- unpaired surrogates


def _surrogate_params():
    out = []
    for name in ("hashing", "word2vec", "static"):
        marks = [] if name == "hashing" else [pytest.mark.skipif(not _available(name),
                                                                   reason=f"extra for {name} not installed")]
        out.append(pytest.param(name, marks=marks))
    return out


@pytest.mark.parametrize("name", _surrogate_params())
@pytest.mark.parametrize("bad, shown", [("x\ud800y", r"\ud800"), ("\udfff", r"\udfff"), ("ok \ud83d", r"\ud83d")])
def test_unpaired_surrogate_is_an_input_error_naming_the_text(name, bad, shown):
    emb = get_embedder(name)
    texts = ["a cat", "a dog", "caf\u00e9 \U0001f600 fine", bad, "more"]
    message = f"text 3 holds an unpaired surrogate ({shown}); fix or remove it"
    with pytest.raises(InputError) as direct:
        emb.embed(texts)
    assert str(direct.value) == message
    with pytest.raises(InputError) as cached:
        embed_cached(emb, texts)
    assert str(cached.value) == message
    assert not list(_cache_folder().iterdir()), "nothing is cached for refused texts"


def test_non_ascii_texts_without_surrogates_still_embed():
    X = get_embedder("hashing").embed(["caf\u00e9", "\U0001f600 emoji", "\u4e2d\u6587"])
    assert X.shape == (3, 512) and np.isfinite(X).all()
