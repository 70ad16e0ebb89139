"""Inputs beyond plain text files: Parquet metadata, Hugging Face datasets, and every refusal in one line."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest

from datadiet.errors import InputError, MissingDependencyError
from datadiet.io import read_dataset, record_texts, write_subset


def one_line_error(path, match):
    with pytest.raises(InputError, match=match) as exc:
        read_dataset(path)
    message = str(exc.value)
    assert "\n" not in message
    return message


# --- Parquet ----------------------------------------------------------------------------------------

def test_parquet_keeps_schema_field_and_file_metadata(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field("text", pa.large_string(), metadata={"lang": "en"}),
                        pa.field("n", pa.int16()),
                        pa.field("kind", pa.dictionary(pa.int8(), pa.string()))],
                       metadata={"custom": "yes", "source": "test"})
    table = pa.table({"text": ["a", "b", "c"], "n": [1, 2, 3], "kind": ["x", "y", "x"]}).cast(schema)
    src = tmp_path / "d.parquet"
    writer = pq.ParquetWriter(src, schema)
    writer.write_table(table)
    writer.add_key_value_metadata({"file_only": "footer"})  # in the footer, not in the Arrow schema
    writer.close()

    ds = read_dataset(src)
    write_subset(ds, [2, 0], tmp_path / "o.parquet")
    back = pq.read_table(tmp_path / "o.parquet")
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.schema.field("text").metadata == {b"lang": b"en"}
    assert back.to_pylist() == [{"text": "c", "n": 3, "kind": "x"}, {"text": "a", "n": 1, "kind": "x"}]
    footer = pq.read_metadata(tmp_path / "o.parquet").metadata
    assert footer[b"file_only"] == b"footer" and footer[b"custom"] == b"yes"


# --- Hugging Face datasets --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    folder = tmp_path_factory.mktemp("hf") / "saved"
    hf = datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"], "n": [1, 2, 3, 4]})
    hf = hf.cast_column("n", datasets.Value("int32"))
    hf.save_to_disk(str(folder))
    datasets.enable_progress_bars()
    return folder


def check_hf_subset(out, features):
    import datasets

    back = datasets.load_from_disk(str(out))
    assert back.to_dict() == {"text": ["c", "a"], "n": [3, 1]}
    assert back.features == features


@pytest.mark.parametrize("fresh", [True, False])
def test_hf_folder_round_trips_into_a_save_to_disk_folder(tmp_path, hf_folder, capfd, fresh):
    ds = read_dataset(hf_folder)
    assert ds.format == "hf" and len(ds) == 4
    assert record_texts(ds) == ["a", "b", "c", "d"]
    assert record_texts(ds, template="{text}{n}")[1] == "b2"
    out = tmp_path / ("new" if fresh else "empty")
    if not fresh:
        out.mkdir()  # the caller's fresh temporary folder
    capfd.readouterr()
    write_subset(ds, [2, 0], out)
    assert capfd.readouterr().err == ""  # no progress bars
    check_hf_subset(out, ds.extra["hf"].features)


def test_hf_arrow_file_round_trips(tmp_path, hf_folder):
    arrow = next(hf_folder.glob("*.arrow"))
    ds = read_dataset(arrow)
    assert ds.format == "hf" and record_texts(ds) == ["a", "b", "c", "d"]
    write_subset(ds, [2, 0], tmp_path / "out")
    check_hf_subset(tmp_path / "out", ds.extra["hf"].features)


def test_hf_output_that_is_not_an_empty_folder_is_refused(tmp_path, hf_folder):
    ds = read_dataset(hf_folder)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(InputError, match="full: exists and is not an empty folder"):
        write_subset(ds, [0], tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep"


def test_hf_dataset_dict_folder_names_its_splits(tmp_path, hf_folder):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    dd = datasets.DatasetDict({"train": datasets.load_from_disk(str(hf_folder))})
    dd.save_to_disk(str(tmp_path / "dd"))
    datasets.enable_progress_bars()
    one_line_error(tmp_path / "dd", r"is a datasets DatasetDict folder \(splits: train\); give one split's folder")


def test_hf_without_datasets_installed(tmp_path, hf_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"Reading a Hugging Face datasets folder needs the "
                                                     r"'datasets' package: pip install 'datadiet\[hfdata\]'"):
        read_dataset(hf_folder)


def test_a_broken_arrow_file(tmp_path):
    pytest.importorskip("datasets")
    bad = tmp_path / "x.arrow"
    bad.write_bytes(b"not arrow at all")
    one_line_error(bad, "x.arrow: not an Arrow stream file as written by datasets")


# --- refusals -----------------------------------------------------------------------------------------

def test_a_plain_folder_is_refused(tmp_path):
    (tmp_path / "plain").mkdir()
    message = one_line_error(tmp_path / "plain", "plain: is a folder; give a data file or a datasets save_to_disk folder")
    assert ".jsonl.gz" in message


@pytest.mark.parametrize("name", ["data.xml", "data.parquet.gz", "data.npy.gz", "data.gz", "noext"])
def test_an_unsupported_name_lists_what_is_supported(tmp_path, name):
    (tmp_path / name).write_bytes(b"x")
    message = one_line_error(tmp_path / name, f"{name}: unknown file type")
    for part in (".jsonl", ".csv.gz", ".parquet", ".arrow", ".npy", "a datasets save_to_disk folder"):
        assert part in message


def test_a_missing_path(tmp_path):
    one_line_error(tmp_path / "nope.jsonl", "nope.jsonl: no such file or folder")


@pytest.mark.parametrize("data, match", [
    (b"this is not gzip", "not a valid gzip file"),
    (gzip.compress(b'{"text": "a"}\n' * 50)[:30], "not a valid gzip file"),
    (gzip.compress(b""), "is empty once decompressed"),
    (gzip.compress(b"\n\n"), "holds no records"),
    (gzip.compress(b'{"text": "a"}\n{oops}\n'), "line 2: not valid JSON"),
])
def test_bad_gzip_inputs(tmp_path, data, match):
    (tmp_path / "d.jsonl.gz").write_bytes(data)
    one_line_error(tmp_path / "d.jsonl.gz", f"d.jsonl.gz.*{match}")


def test_random_bytes_in_npy_get_no_pickle_advice(tmp_path):
    (tmp_path / "r.npy").write_bytes(bytes(range(256)) * 4)
    message = one_line_error(tmp_path / "r.npy", r"r.npy: not a .npy array \(it does not start with the .npy magic")
    assert "pickle" not in message


def test_npy_of_objects_gets_no_pickle_advice(tmp_path):
    np.save(tmp_path / "o.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    message = one_line_error(tmp_path / "o.npy", r"o.npy: holds Python objects \(dtype object\), not numbers")
    assert "pickle" not in message


def test_npy_without_columns(tmp_path):
    np.save(tmp_path / "e.npy", np.zeros((5, 0), dtype=np.float32))
    one_line_error(tmp_path / "e.npy", r"e.npy: has no columns \(shape \(5, 0\)\)")
    np.save(tmp_path / "z.npy", np.zeros((0, 3), dtype=np.float32))
    one_line_error(tmp_path / "z.npy", "z.npy: holds no records")


def test_npy_cut_short_or_with_a_bad_header(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((10, 4)))
    data = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "c.npy").write_bytes(data[:-8])
    one_line_error(tmp_path / "c.npy", r"c.npy: is cut short")
    (tmp_path / "h.npy").write_bytes(data[:12] + b"garbage" + data[19:])
    message = one_line_error(tmp_path / "h.npy", r"h.npy: not a .npy array \(")
    assert "pickle" not in message
    import zipfile

    with zipfile.ZipFile(tmp_path / "z.npy", "w") as zf:  # an .npz renamed
        zf.writestr("a.npy", data)
    one_line_error(tmp_path / "z.npy", "z.npy: not a .npy array")


def test_npy_subset_gzipped_when_asked(tmp_path):
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.save(tmp_path / "x.npy", X)
    write_subset(read_dataset(tmp_path / "x.npy"), [2, 0], tmp_path / "o.npy.gz")
    import io

    back = np.load(io.BytesIO(gzip.decompress((tmp_path / "o.npy.gz").read_bytes())))
    np.testing.assert_array_equal(back, X[[2, 0]])
