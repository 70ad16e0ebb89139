"""Every input format reads into the same records and writes a subset back in kind."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.io import read_dataset, record_texts, write_subset

RECORDS = [
    {"instruction": "Add two numbers", "output": "Use +.", "id": 1},
    {"instruction": "Name a color", "output": "Blue, with \"quotes\", commas\nand a newline.", "id": 2},
    {"instruction": "Say hi in French", "output": "Salut — ça va ?", "id": 3},
]


def write_format(path, records):
    fmt = path.suffix
    if fmt == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    elif fmt == ".json":
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    elif fmt == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(records[0]))
            w.writeheader()
            w.writerows(records)
    elif fmt == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_roundtrip_each_format(tmp_path, suffix):
    src = write_format(tmp_path / f"data{suffix}", RECORDS)
    ds = read_dataset(src)
    assert ds.format == suffix.lstrip(".").replace("jsonl", "jsonl")
    assert len(ds) == 3
    texts = record_texts(ds, template="{instruction}\\n{output}")
    assert texts[1] == "Name a color\n" + RECORDS[1]["output"]
    assert record_texts(ds, field="instruction") == [r["instruction"] for r in RECORDS]
    out = tmp_path / f"out{suffix}"
    write_subset(ds, [2, 0], out)
    back = read_dataset(out)
    assert record_texts(back, field="output") == [RECORDS[2]["output"], RECORDS[0]["output"]]
    # ids are ints except in CSV: a template formats them; --field accepts only strings (see test_io_texts)
    assert record_texts(back, template="{id}") == ["3", "1"]
    if suffix != ".csv":
        with pytest.raises(InputError, match="field 'id' is int, not a string"):
            record_texts(back, field="id")


def test_text_and_npy(tmp_path):
    txt = tmp_path / "lines.txt"
    txt.write_text("first line\n\nsecond line\nthird\n", encoding="utf-8")
    ds = read_dataset(txt)
    assert record_texts(ds) == ["first line", "second line", "third"]  # blank lines skipped
    write_subset(ds, [2, 1], tmp_path / "o.txt")
    assert (tmp_path / "o.txt").read_text() == "third\nsecond line\n"

    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    ds = read_dataset(tmp_path / "x.npy")
    write_subset(ds, [3, 0], tmp_path / "o.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), X[[3, 0]])


def test_jsonl_subset_keeps_original_lines(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text('{"b": 1, "text": "x"}\n{"text":  "y",  "a": [1,2]}\n', encoding="utf-8")
    write_subset(read_dataset(src), [1], tmp_path / "o.jsonl")
    assert (tmp_path / "o.jsonl").read_text() == '{"text":  "y",  "a": [1,2]}\n'


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.jsonl", b"", "empty"),
        ("blank.jsonl", b"\n\n", "no records"),
        ("latin1.txt", "caf\u00e9\n".encode("latin-1"), "not UTF-8"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": oops}\n', "line 2: not valid JSON"),
        ("list.jsonl", b'{"text": "a"}\n[1, 2]\n', "line 2: expected a JSON object"),
        ("obj.json", b'{"text": "a"}', "array"),
        ("data.xml", b"<a/>", "unknown file type"),
    ],
)
def test_bad_files(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_dataset(path)


def test_bad_npy(tmp_path):
    X = np.ones((4, 3))
    X[2, 1] = np.inf
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match="row 2: NaN or inf"):
        read_dataset(tmp_path / "x.npy")
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(InputError, match="2-D"):
        read_dataset(tmp_path / "v.npy")


def test_bad_npy_row_is_found_past_the_first_checked_block(tmp_path, monkeypatch):
    import datadiet.io as io

    monkeypatch.setattr(io, "_NPY_CHECK_ROWS", 4)  # the file is checked 4 rows at a time
    X = np.ones((11, 2), dtype=np.float32)
    X[9, 0] = np.nan
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match=r"x.npy, row 9: NaN or inf"):
        read_dataset(tmp_path / "x.npy")


def test_missing_field_names_row_and_choices(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text('{"text": "a"}\n\n{"body": "b"}\n', encoding="utf-8")
    ds = read_dataset(src)
    with pytest.raises(InputError, match=r"d.jsonl, line 3: no field 'text'.*fields here: body"):
        record_texts(ds)
    with pytest.raises(InputError, match="line 1: no field 'body'"):
        record_texts(ds, field="body")
    with pytest.raises(InputError, match="line 3: no field 'text'"):
        record_texts(ds, template="{text}!")
    csvp = tmp_path / "d.csv"
    csvp.write_text("text,other\nhello,1\nshort\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2 \(line 3\): field 'other' is null"):
        record_texts(read_dataset(csvp), field="other")


def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path):
    """json.dumps(ensure_ascii=False) leaves U+2028/U+0085/\\x1c unescaped; they are not line breaks."""
    recs = [{"text": "a\u2028b"}, {"text": "c\u0085d\x1ce"}, {"text": "plain"}]
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in recs), encoding="utf-8")
    ds = read_dataset(src)
    assert record_texts(ds) == [r["text"] for r in recs]
    write_subset(ds, [1], tmp_path / "o.jsonl")
    assert json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8").split("\n")[0]) == recs[1]
