"""`datadiet select` end to end: outputs, determinism, every bad input (exit 2, one line, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.select import maxmin, metrics

runner = CliRunner()

TEXTS = [
    "How do I sort a list in Python?", "Write a haiku about autumn leaves.",
    "Explain the TCP three-way handshake.", "What is the capital of Australia?",
    "Give me a recipe for pancakes.", "Translate 'good morning' into Spanish.",
    "How does photosynthesis work?", "Summarize the plot of Hamlet.",
    "What are the rules of chess castling?", "Write a SQL query that counts rows per day.",
]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_select_jsonl_writes_everything(tmp_path):
    src = jsonl(tmp_path / "data.jsonl", [{"prompt": t, "id": i} for i, t in enumerate(TEXTS)])
    out, idx, stats, plot = (tmp_path / n for n in ("sub.jsonl", "idx.txt", "stats.json", "p.png"))
    r = run("select", src, "-k", 4, "--field", "prompt", "--embedder", "hashing", "--out", out,
            "--indices-out", idx, "--stats-out", stats, "--plot", plot, "--quiet")
    assert r.exit_code == 0, r.output
    assert "h_min" in r.stdout and "vs random" in r.stdout
    indices = [int(x) for x in idx.read_text().split()]
    assert len(indices) == 4 == len(set(indices))
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == indices
    s = json.loads(stats.read_text())
    for key in ("n", "k", "h_min", "covering_radius", "random_h_min", "random_covering_radius"):
        assert key in s
    assert (s["n"], s["k"]) == (10, 4)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the stats are the metrics of the printed indices, and beat nothing by construction: check
    from datadiet.embed import embed_cached, get_embedder

    X = embed_cached(get_embedder("hashing"), TEXTS)
    assert s["h_min"] == pytest.approx(metrics.h_min(X, indices))
    assert s["covering_radius"] == pytest.approx(metrics.covering_radius(X, indices))


def test_select_is_deterministic(tmp_path):
    src = jsonl(tmp_path / "data.jsonl", [{"text": t} for t in TEXTS])
    outs = []
    for name in ("a.txt", "b.txt", "c.txt"):
        seed = 7 if name == "c.txt" else 3
        r = run("select", src, "-k", 6, "--embedder", "hashing", "--seed", seed, "--indices-out", tmp_path / name, "-q")
        assert r.exit_code == 0, r.output
        outs.append((tmp_path / name).read_text())
    assert outs[0] == outs[1]
    starts = {int(run_first(src, s, tmp_path)) for s in range(6)}
    assert len(starts) > 1  # the seed does choose the first point


def run_first(src, seed, tmp_path):
    p = tmp_path / f"first{seed}.txt"
    assert run("select", src, "-k", 1, "--embedder", "hashing", "--seed", seed, "--indices-out", p, "-q").exit_code == 0
    return p.read_text().split()[0]


def test_npy_matches_library(tmp_path):
    X = np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    r = run("select", tmp_path / "x.npy", "-k", 15, "--metric", "euclidean", "--start", 5,
            "--indices-out", tmp_path / "i.txt", "--out", tmp_path / "sub.npy", "-q")
    assert r.exit_code == 0, r.output
    want = maxmin(X, 15, metric="euclidean", start=5).indices
    assert [int(x) for x in (tmp_path / "i.txt").read_text().split()] == want.tolist()
    np.testing.assert_array_equal(np.load(tmp_path / "sub.npy"), X[want])


def test_duplicates_are_legal(tmp_path):
    src = jsonl(tmp_path / "d.jsonl", [{"text": t} for t in TEXTS[:3] * 4])
    r = run("select", src, "-k", 5, "--embedder", "hashing", "--stats-out", tmp_path / "s.json", "-q")
    assert r.exit_code == 0, r.output
    assert "only 3 distinct rows" in r.stdout
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["h_min"] == 0.0 and s["distinct_rows"] == 3


def _bad_inputs(tmp_path):
    zero = np.ones((5, 3))
    zero[3] = 0
    nan = np.ones((5, 3))
    nan[1, 2] = np.nan
    good = jsonl(tmp_path / "good.jsonl", [{"text": t} for t in TEXTS])
    return {
        "k too large": (["select", good, "-k", 11], "larger than the number of rows available (10)"),
        "k zero": (["select", good, "-k", 0], "at least 1"),
        "empty file": (["select", _write(tmp_path / "e.jsonl", b""), "-k", 1], "file is empty"),
        "non-utf8": (["select", _write(tmp_path / "l.txt", "d\u00e9j\u00e0\n".encode("latin-1")), "-k", 1], "not UTF-8"),
        "missing field": (["select", good, "-k", 2, "--field", "body"], "line 1: no field 'body'"),
        "bad jsonl line": (["select", _write(tmp_path / "b.jsonl", b'{"text": "a"}\n{"text": "b"\n'), "-k", 1],
                           "line 2: not valid JSON"),
        "nan npy": (["select", _npy(tmp_path / "n.npy", nan), "-k", 2], "row 1: NaN or inf"),
        "zero vector cosine": (["select", _npy(tmp_path / "z.npy", zero), "-k", 2], "z.npy, row 3 is an all-zero vector"),
        "empty text cosine": (["select", jsonl(tmp_path / "t.jsonl", [{"text": "a b"}, {"text": ""}]), "-k", 1],
                              "line 2 embeds to an all-zero vector"),
        "out is input": (["select", good, "-k", 2, "--out", good], "is the input; give every output its own new path"),
        "unknown embedder": (["select", good, "-k", 2, "--embedder", "bert"], "not one of"),
        "missing file": (["select", tmp_path / "nope.jsonl", "-k", 2], "no such file"),
    }


def _write(path, data):
    path.write_bytes(data)
    return path


def _npy(path, X):
    np.save(path, X)
    return path


BAD_CASES = ["k too large", "k zero", "empty file", "non-utf8", "missing field", "bad jsonl line", "nan npy",
             "zero vector cosine", "empty text cosine", "out is input", "unknown embedder", "missing file"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, case):
    args, match = _bad_inputs(tmp_path)[case]
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    outs = tmp_path / "outs"
    args = args + ["--embedder", "hashing"] * ("--embedder" not in args) + [
        "--indices-out", outs / "i.txt", "--stats-out", outs / "s.json", "--plot", outs / "p.png", "-q"]
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert match in r.stderr
    assert r.stderr.startswith("datadiet: error: ") and r.stderr.count("\n") == 1  # one line
    assert "Traceback" not in r.output
    assert not outs.exists()  # nothing written
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # inputs untouched


def test_builtin_default_run(tmp_path, monkeypatch):
    """The quick start's main job, as a user runs it: no arguments at all."""
    monkeypatch.chdir(tmp_path)
    r = run("select")
    assert r.exit_code == 0, r.output
    folder = tmp_path / "results" / "select-sharegpt"
    s = json.loads((folder / "stats.json").read_text())
    assert (s["n"], s["k"], s["input"], s["embedder"]) == (11128, 5564, "sharegpt", "static")
    # farthest-first is a 2-approximation of max-min dispersion and of k-center; a random half of
    # real data is far from both
    assert s["h_min"] > s["random_h_min"]
    assert s["covering_radius"] < 0.5 * s["random_covering_radius"]
    assert s["mean_nn_distance"] > s["random_mean_nn_distance"]
    first = json.loads((folder / "selected.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "instruction", "output"}
    assert len((folder / "indices.txt").read_text().split()) == 5564
    assert (folder / "plot.png").exists()


def test_corpus_build_and_info(tmp_path):
    r = run("corpus", "build", "--out", tmp_path / "c", "--domains", "news", "--cap-mb", "0.05", "-q")
    assert r.exit_code == 0, r.output
    assert "news" in r.stdout
    r = run("corpus", "info", "--dir", tmp_path / "c")
    assert r.exit_code == 0 and "news" in r.stdout
    r = run("corpus", "info", "--dir", tmp_path / "missing")
    assert r.exit_code == 2 and "datadiet corpus build" in r.stderr
