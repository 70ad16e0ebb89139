"""write_subset copies each selected record's bytes: endings, BOM, CSV quoting and raggedness kept."""

from __future__ import annotations

import gzip
import json

import pytest

from datadiet.errors import InputError
from datadiet.io import Dataset, read_dataset, record_texts, write_subset

BOM = b"\xef\xbb\xbf"


def subset_bytes(tmp_path, name, data, indices, out_name=None):
    """Write `data` as `name`, read it, write `indices` back; the output's bytes."""
    src = tmp_path / name
    src.write_bytes(data)
    out = tmp_path / (out_name or "out-" + name)
    write_subset(read_dataset(src), indices, out)
    return out.read_bytes()


# --- JSON Lines and plain text -------------------------------------------------------------------

def test_jsonl_keeps_bom_and_crlf_and_ends_the_last_line_like_the_file(tmp_path):
    data = BOM + b'{"text": "a"}\r\n\r\n{"text":  "b"}\r\n{"text":"c"}'
    out = subset_bytes(tmp_path, "d.jsonl", data, [2, 0])
    assert out == BOM + b'{"text":"c"}\r\n{"text": "a"}\r\n'


def test_jsonl_lf_stays_lf_and_each_line_keeps_its_own_ending(tmp_path):
    lf = b'{"text": "a"}\n{"text": "b"}'
    assert subset_bytes(tmp_path, "a.jsonl", lf, [1, 0]) == b'{"text": "b"}\n{"text": "a"}\n'
    mixed = b'{"text": "a"}\n{"text": "b"}\r\n'
    expected = b'{"text": "b"}\r\n{"text": "a"}\n{"text": "b"}\r\n'
    assert subset_bytes(tmp_path, "m.jsonl", mixed, [1, 0, 1]) == expected


def test_jsonl_unicode_escapes_and_raw_non_ascii_are_copied_as_written(tmp_path):
    first, second = '{"text": "\\u00e9t\\u00e9"}\n'.encode(), '{"text": "ça\u2028va"}\n'.encode()
    assert subset_bytes(tmp_path, "u.jsonl", first + second, [1, 0]) == second + first


def test_text_keeps_bom_and_crlf(tmp_path):
    data = BOM + b"first\r\nsecond\r\n   \r\nthird"
    src = tmp_path / "t.txt"
    src.write_bytes(data)
    ds = read_dataset(src)
    assert record_texts(ds) == ["first", "second", "third"]  # no BOM, no CR in the texts
    write_subset(ds, [2, 0], tmp_path / "o.txt")
    assert (tmp_path / "o.txt").read_bytes() == BOM + b"third\r\nfirst\r\n"


def test_a_one_line_file_without_newline_gets_lf(tmp_path):
    assert subset_bytes(tmp_path, "one.txt", b"only", [0, 0]) == b"only\nonly\n"


def test_a_dataset_built_in_code_with_lines_only_still_writes(tmp_path):
    """pipeline.builtin_dataset gives "lines" and "line_numbers" but no endings: they are LF."""
    ds = Dataset(None, "jsonl", records=[{"text": "a"}, {"text": "b"}],
                 extra={"lines": ['{"text": "a"}', '{"text": "b"}'], "line_numbers": [1, 2]})
    write_subset(ds, [1, 0], tmp_path / "o.jsonl")
    assert (tmp_path / "o.jsonl").read_bytes() == b'{"text": "b"}\n{"text": "a"}\n'


# --- CSV -------------------------------------------------------------------------------------------

def test_csv_duplicate_header_names_keep_every_value(tmp_path):
    data = b"text,a,a\r\nfirst,1,2\r\nsecond,3,4\r\nthird,5,6\r\n"
    assert subset_bytes(tmp_path, "d.csv", data, [2]) == b"text,a,a\r\nthird,5,6\r\n"


def test_csv_lf_stays_lf(tmp_path):
    assert subset_bytes(tmp_path, "lf.csv", b"text,n\nx,1\ny,2\n", [1, 0]) == b"text,n\ny,2\nx,1\n"


def test_csv_ragged_rows_are_written_as_they_were(tmp_path):
    data = b"text,other\nhello,1\nshort\nlong,2,extra\n"
    assert subset_bytes(tmp_path, "r.csv", data, [2, 1, 0]) == b"text,other\nlong,2,extra\nshort\nhello,1\n"


def test_csv_quoting_multiline_fields_bom_and_last_line(tmp_path):
    data = BOM + b'text,n\r\n"multi\r\nline, with ""quotes""",1\r\nplain,"2"\r\n\r\nlast,3'
    src = tmp_path / "q.csv"
    src.write_bytes(data)
    ds = read_dataset(src)
    assert record_texts(ds) == ['multi\r\nline, with "quotes"', "plain", "last"]
    assert ds.row_label(2) == f"{src}, row 3 (line 6)"  # a row is pointed at by its first line
    write_subset(ds, [2, 0, 1], tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_bytes() == (
        BOM + b'text,n\r\nlast,3\r\n"multi\r\nline, with ""quotes""",1\r\nplain,"2"\r\n')


def test_csv_with_cr_line_endings(tmp_path):
    assert subset_bytes(tmp_path, "cr.csv", b"text\rx\ry\r", [1]) == b"text\ry\r"


def test_csv_quoted_header_is_written_once_as_it_was(tmp_path):
    data = b'"te""xt",  "b c"\n"v",1\n'
    src = tmp_path / "h.csv"
    src.write_bytes(data)
    ds = read_dataset(src)
    assert record_texts(ds, field='te"xt') == ["v"]
    write_subset(ds, [0, 0], tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_bytes() == b'"te""xt",  "b c"\n"v",1\n"v",1\n'


def test_csv_field_longer_than_the_csv_module_default_limit(tmp_path):
    long = "x" * 200_000  # csv refuses fields over 128 KiB unless told otherwise
    data = f'text\n"{long}"\n'.encode()
    src = tmp_path / "long.csv"
    src.write_bytes(data)
    assert record_texts(read_dataset(src)) == [long]


def test_csv_duplicated_column_as_field_is_refused_in_one_line(tmp_path):
    src = tmp_path / "d.csv"
    src.write_bytes(b"text,a,a\nx,1,2\n")
    ds = read_dataset(src)
    assert record_texts(ds) == ["x"]
    with pytest.raises(InputError, match=r"d.csv, line 1: column 'a' appears 2 times .*columns 2, 3") as exc:
        record_texts(ds, field="a")
    assert "\n" not in str(exc.value)
    with pytest.raises(InputError, match="column 'a' appears 2 times"):
        record_texts(ds, template="{text} {a}")


def test_csv_ragged_rows_report_a_missing_value_as_today(tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes(b"text,other\nhello,1\nshort\nlong,2,extra\n")
    ds = read_dataset(src)
    assert record_texts(ds) == ["hello", "short", "long"]
    with pytest.raises(InputError, match=r"r.csv, row 2 \(line 3\): field 'other' is null"):
        record_texts(ds, field="other")


# --- JSON arrays ------------------------------------------------------------------------------------

def test_json_array_is_written_as_a_json_array(tmp_path):
    recs = [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "c", "n": 3}]
    src = tmp_path / "d.json"
    src.write_bytes(BOM + json.dumps(recs).encode())
    write_subset(read_dataset(src), [2, 0], tmp_path / "o.json")
    assert json.loads((tmp_path / "o.json").read_bytes()) == [recs[2], recs[0]]


# --- gzip -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, indices, expected", [
    ("d.jsonl.gz", BOM + b'{"text": "a"}\r\n{"text": "b"}', [1, 0], BOM + b'{"text": "b"}\r\n{"text": "a"}\r\n'),
    ("d.txt.gz", b"a\r\nb\r\n", [1], b"b\r\n"),
    ("d.csv.gz", b"text,a,a\nx,1,2\ny,3\n", [1, 0], b"text,a,a\ny,3\nx,1,2\n"),
])
def test_gzip_inputs_round_trip_byte_for_byte(tmp_path, name, data, indices, expected):
    src = tmp_path / name
    src.write_bytes(gzip.compress(data))
    ds = read_dataset(src)
    write_subset(ds, indices, tmp_path / ("o-" + name))
    assert gzip.decompress((tmp_path / ("o-" + name)).read_bytes()) == expected
    plain = tmp_path / ("o-" + name[: -len(".gz")])
    write_subset(ds, indices, plain)  # no .gz in the output's name: not compressed
    assert plain.read_bytes() == expected


def test_gzip_json_array(tmp_path):
    src = tmp_path / "d.json.gz"
    src.write_bytes(gzip.compress(b'[{"text": "a"}, {"text": "b"}]'))
    ds = read_dataset(src)
    assert ds.format == "json" and record_texts(ds) == ["a", "b"]
    write_subset(ds, [1], tmp_path / "o.json.gz")
    assert json.loads(gzip.decompress((tmp_path / "o.json.gz").read_bytes())) == [{"text": "b"}]


def test_gzip_output_is_reproducible_and_readable_back(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_bytes(b'{"text": "a"}\n{"text": "b"}\n')
    ds = read_dataset(src)
    write_subset(ds, [1, 0], tmp_path / "1.jsonl.gz")
    write_subset(ds, [1, 0], tmp_path / "2.jsonl.gz")
    assert (tmp_path / "1.jsonl.gz").read_bytes() == (tmp_path / "2.jsonl.gz").read_bytes()  # no time stamp
    assert record_texts(read_dataset(tmp_path / "1.jsonl.gz")) == ["b", "a"]


def test_compress_overrides_the_name(tmp_path):
    """select writes to a temporary name first and says whether the output it becomes is gzipped."""
    src = tmp_path / "d.txt"
    src.write_bytes(b"a\nb\n")
    ds = read_dataset(src)
    write_subset(ds, [1], tmp_path / "plain.gz", compress=False)
    assert (tmp_path / "plain.gz").read_bytes() == b"b\n"
    write_subset(ds, [1], tmp_path / "forced", compress=True)
    assert gzip.decompress((tmp_path / "forced").read_bytes()) == b"b\n"
