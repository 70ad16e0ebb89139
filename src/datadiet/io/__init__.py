"""Read datasets into records, turn records into texts, write subsets back in the input's format.

Formats by name: .jsonl/.ndjson, .json (an array of objects), .csv, .txt (one example per line) -- each
also gzipped (.jsonl.gz ...) -- .parquet, .npy (an embedding matrix, used as is), and Hugging Face
datasets (a save_to_disk folder or one .arrow file). A subset of a JSONL, text or CSV input holds the
input's bytes for each record. Every problem raises InputError with the file, the line or row, and the
fix; outputs are written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..errors import InputError, MissingDependencyError  # noqa: F401  (re-exported)
from .arrowfile import read_arrow_file, read_hf_folder, read_parquet, write_hf_subset, write_parquet_subset
from .csvfile import read_csv, write_csv_subset
from .dataset import Dataset
from .formats import FORMATS, GZIP_FORMATS, detect_format, extensions, is_gzip, supported, wants_gzip
from .lines import read_json, read_jsonl, read_text, write_json_subset, write_lines_subset
from .npyfile import read_npy, write_npy_subset
from .texts import check_texts, record_texts
from .writers import write_json, write_lines, write_records_jsonl

__all__ = [
    "Dataset", "FORMATS", "GZIP_FORMATS", "check_texts", "detect_format", "extensions", "is_gzip", "read_dataset",
    "record_texts", "supported", "wants_gzip", "write_json", "write_lines", "write_records_jsonl", "write_subset",
]

_NPY_CHECK_ROWS = 1 << 16  # .npy rows checked for NaN/inf at a time: bounded memory whatever the file's size

# read as text, from the file or through gzip
_TEXT_READERS = {"jsonl": read_jsonl, "json": read_json, "csv": read_csv, "text": read_text}


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read `path` by its name (or as a datasets save_to_disk folder). Raises InputError for missing,
    empty, non-UTF-8, malformed or unsupported inputs."""
    path = Path(path)
    size = _size(path)
    if path.is_dir():
        ds = read_hf_folder(path)
    else:
        fmt = detect_format(path)
        if size == 0:
            raise InputError(f"{path}: file is empty; give a file with at least one record")
        ds = _read_file(path, fmt)
    if len(ds) == 0:
        raise InputError(f"{path}: holds no records; give a file with at least one record")
    return ds


def _size(path: Path) -> int:
    """The file's size; refuses a path that does not exist or cannot be looked at."""
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{path}: no such file or folder; check the path") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc


def _read_file(path: Path, fmt: str) -> Dataset:
    if fmt in _TEXT_READERS:
        return _TEXT_READERS[fmt](path, gz=is_gzip(path))
    if fmt == "parquet":
        return read_parquet(path)
    if fmt == "hf":
        return read_arrow_file(path)
    return read_npy(path, _NPY_CHECK_ROWS)


_FILE_WRITERS = {"jsonl": write_lines_subset, "text": write_lines_subset, "json": write_json_subset,
                 "csv": write_csv_subset, "parquet": write_parquet_subset, "npy": write_npy_subset}


def write_subset(ds: Dataset, indices: Sequence[int], out: str | os.PathLike, *, compress: bool | None = None) -> None:
    """Write the records at `indices`, in that order, in the input's format, to exactly `out` (atomically).

    JSONL, text and CSV records keep the input's bytes. A file is gzipped when `compress`, or when None
    (the default) and `out` names a .gz file. Format "hf" writes a datasets save_to_disk folder at `out`
    (a new path or an existing empty folder).
    """
    out = Path(out)
    idx = [int(i) for i in indices]
    if ds.format == "hf":
        write_hf_subset(ds, idx, out)
        return
    if ds.format not in _FILE_WRITERS:  # pragma: no cover - formats are closed
        raise ValueError(ds.format)
    _FILE_WRITERS[ds.format](ds, idx, out, wants_gzip(out) if compress is None else compress)
