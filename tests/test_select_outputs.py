"""`datadiet select` outputs: checked before any work, written all-or-nothing; usage errors in one line;
selection from Python (texts, a datasets.Dataset)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from datadiet.cli import app

runner = CliRunner()
TEXTS = ["the cat sat on the mat", "a dog ran in the park", "stock markets fell sharply", "quantum field theory",
         "the cat sat on the mat", "recipes for lemon cake", "rain is expected tomorrow", "how to sort a list"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def data(tmp_path):
    src = tmp_path / "data.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    return src


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r, match):
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("datadiet: error: ") and r.stderr.count("\n") == 1, r.stderr
    assert match in r.stderr, r.stderr
    assert "Traceback" not in r.output


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", ["under a file", "same as --out", "a folder", "is the input"])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, case, monkeypatch):
    import datadiet.io
    from datadiet.select import pipeline

    def no_work(*a, **k):
        raise AssertionError("the data was read before the outputs were checked")

    monkeypatch.setattr(pipeline, "load", no_work)
    monkeypatch.setattr(datadiet.io, "read_dataset", no_work)
    src = data(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    out, idx, stats = tmp_path / "o" / "sub.jsonl", tmp_path / "o" / "idx.txt", tmp_path / "o" / "stats.json"
    bad = {"under a file": ("--stats-out", tmp_path / "afile" / "s.json", "afile is a file, not a folder"),
           "same as --out": ("--stats-out", out, "is also --out"),
           "a folder": ("--stats-out", tmp_path / "adir", "is a folder"),
           "is the input": ("--stats-out", src, "is the input")}[case]
    before = listing(tmp_path)
    args = ["select", src, "-k", 3, "--embedder", "hashing", "--out", out, "--indices-out", idx, "-q"]
    r = run(*args, bad[0], bad[1])
    one_line_error(r, bad[2])
    assert listing(tmp_path) == before  # nothing created, nothing changed


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_folder_is_refused(tmp_path):
    src = data(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line_error(run("select", src, "-k", 3, "--embedder", "hashing", "--plot", ro / "p.png", "-q"),
                       "is not writable")
    finally:
        ro.chmod(0o755)


def test_a_failure_while_writing_leaves_no_output(tmp_path, monkeypatch):
    """Every output goes to a temporary beside it; one failing writer leaves nothing, no temporaries."""
    from datadiet.errors import InputError
    from datadiet.select import pipeline

    src = data(tmp_path)
    out = tmp_path / "new" / "deeper"
    (tmp_path / "old.txt").write_text("keep me\n")

    def fail(*a, **k):
        raise InputError("simulated failure while writing stats")

    monkeypatch.setattr(pipeline, "write_json", fail)
    before = listing(tmp_path)
    r = run("select", src, "-k", 3, "--embedder", "hashing", "--out", out / "sub.jsonl", "--indices-out",
            tmp_path / "old.txt", "--stats-out", out / "stats.json", "-q")
    one_line_error(r, "simulated failure")
    assert listing(tmp_path) == before and (tmp_path / "old.txt").read_text() == "keep me\n"


def test_all_outputs_are_written_together(tmp_path):
    src = data(tmp_path)
    o = tmp_path / "o"
    r = run("select", src, "-k", 3, "--embedder", "hashing", "--out", o / "sub.jsonl", "--indices-out", o / "i.txt",
            "--stats-out", o / "s.json", "--plot", o / "p.png", "-q")
    assert r.exit_code == 0, r.output
    assert listing(o) == ["i.txt", "p.png", "s.json", "sub.jsonl"]  # and no temporaries


@pytest.mark.parametrize("args, match", [
    (["-k", "1.5"], "Invalid value for '-k'"),
    (["-k", "abc"], "'abc' is not a valid integer"),
    (["--bogus"], "No such option '--bogus'"),
    (["--metric"], "requires an argument"),
])
def test_usage_errors_are_one_line(tmp_path, args, match):
    one_line_error(run("select", data(tmp_path), *args), match)


def test_a_non_zero_torchrun_rank_prints_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    r = run("select", tmp_path / "missing.jsonl", "-k", 2)
    assert r.exit_code == 2 and r.stderr == ""
    monkeypatch.setenv("RANK", "0")
    one_line_error(run("select", tmp_path / "missing.jsonl", "-k", 2), "no such file")


def test_select_texts_from_python():
    from datadiet.select import metrics, select_texts
    from datadiet.embed import embed_cached, get_embedder

    sel = select_texts(TEXTS, 4, embedder="hashing")
    assert len(set(sel.indices.tolist())) == 4 and sel.indices[0] == int(np.random.default_rng(0).integers(8))
    X = embed_cached(get_embedder("hashing"), TEXTS)
    assert sel.stats["h_min"] == pytest.approx(metrics.h_min(X, sel.indices), rel=1e-12)
    assert sel.stats["h_min"] == pytest.approx(sel.distances[1:].min(), rel=1e-12)
    assert sel.stats["distinct_rows"] == 7  # one text appears twice
    assert select_texts(TEXTS, embedder="hashing").indices.size == 4  # default: half
    from datadiet.errors import InputError

    with pytest.raises(InputError, match="single string"):
        select_texts("one text", 1)


def test_select_dataset_from_python():
    datasets = pytest.importorskip("datasets")
    from datadiet.select import select_dataset, select_texts

    ds = datasets.Dataset.from_dict({"body": TEXTS, "id": list(range(8))})
    subset, stats = select_dataset(ds, 3, field="body", embedder="hashing")
    want = select_texts(TEXTS, 3, embedder="hashing").indices.tolist()
    assert subset["id"] == want and stats["indices"] == want
    both, _ = select_dataset(ds, 3, template="{body} #{id}", embedder="hashing")
    assert len(both) == 3
    from datadiet.errors import InputError

    with pytest.raises(InputError, match="no column 'text'"):
        select_dataset(ds, 3, embedder="hashing")


def test_gzip_and_datasets_outputs_through_the_cli(tmp_path):
    import gzip

    src = tmp_path / "d.jsonl.gz"
    raw = "".join(json.dumps({"text": t}) + "\r\n" for t in TEXTS).encode()
    src.write_bytes(gzip.compress(raw))
    r = run("select", src, "-k", 3, "--embedder", "hashing", "--out", tmp_path / "o.jsonl.gz", "--indices-out",
            tmp_path / "i.txt", "-q")
    assert r.exit_code == 0, r.output
    idx = [int(x) for x in (tmp_path / "i.txt").read_text().split()]
    lines = raw.split(b"\r\n")
    assert gzip.decompress((tmp_path / "o.jsonl.gz").read_bytes()) == b"".join(lines[i] + b"\r\n" for i in idx)
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": TEXTS}).save_to_disk(str(tmp_path / "hf"))
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new", tmp_path / "empty"):
        r = run("select", tmp_path / "hf", "-k", 3, "--embedder", "hashing", "--out", out, "-q")
        assert r.exit_code == 0, r.output
        assert datasets.load_from_disk(str(out))["text"] == [TEXTS[i] for i in idx]
    one_line_error(run("select", tmp_path / "hf", "-k", 3, "--embedder", "hashing", "--out", tmp_path / "new", "-q"),
                   "is not an empty folder")
