"""Read datasets into records, turn records into texts, write subsets back in the input's format.

Formats by extension: .jsonl/.ndjson, .json (an array of objects), .csv, .parquet, .txt (one
example per line) and .npy (an embedding matrix, used as is). Every problem raises InputError
with the file, the line or row, and the fix; outputs are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InputError, MissingDependencyError
from .paths import atomic_path, atomic_write

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
    ".npy": "npy",
}


@dataclass
class Dataset:
    """What was read: records (dicts) for text formats, or an embedding matrix for .npy."""

    path: Path | None
    format: str
    records: list[dict] | None = None
    embeddings: np.ndarray | None = None
    # what writing a subset back needs: raw lines (jsonl/text), CSV header, the Arrow table
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else int(self.embeddings.shape[0])

    def row_label(self, i: int) -> str:
        """How to point a user at record i (0-based) in this file."""
        where = str(self.path) if self.path else "the data"
        if self.format in ("jsonl", "text"):
            return f"{where}, line {self.extra['line_numbers'][i]}"
        if self.format == "csv":
            return f"{where}, row {i + 1} (line {self.extra['line_numbers'][i]})"
        if self.format == "npy":
            return f"{where}, row {i}"
        return f"{where}, record {i}"


def detect_format(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


def read_dataset(path: str | os.PathLike) -> Dataset:
    """Read `path` by its extension. Raises InputError for missing, empty, non-UTF-8 or malformed files."""
    path = Path(path)
    fmt = detect_format(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give a data file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    if size == 0:
        raise InputError(f"{path}: file is empty; give a file with at least one record")
    reader = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "text": _read_text,
              "parquet": _read_parquet, "npy": _read_npy}[fmt]
    ds = reader(path)
    if len(ds) == 0:
        raise InputError(f"{path}: holds no records; give a file with at least one record")
    return ds


def _read_utf8(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-encode the file as UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # tolerate a BOM


def _lines(text: str) -> list[str]:
    """Split on newline only: str.splitlines would also cut at U+2028, U+0085 or \x1c, which JSON
    strings may hold unescaped (json.dumps(..., ensure_ascii=False) writes them as they are)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def _read_jsonl(path: Path) -> Dataset:
    records, lines, numbers = [], [], []
    for no, line in enumerate(_lines(_read_utf8(path)), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, line {no}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(rec, dict):
            raise InputError(f"{path}, line {no}: expected a JSON object, got {type(rec).__name__}")
        records.append(rec)
        lines.append(line)
        numbers.append(no)
    return Dataset(path, "jsonl", records=records, extra={"lines": lines, "line_numbers": numbers})


def _read_json(path: Path) -> Dataset:
    try:
        data = json.loads(_read_utf8(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON array of objects, got one object; wrap it in [ ]")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON array of objects, got {type(data).__name__}")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise InputError(f"{path}, record {i}: expected a JSON object, got {type(rec).__name__}")
    return Dataset(path, "json", records=data)


def _read_csv(path: Path) -> Dataset:
    rd = csv.reader(io.StringIO(_read_utf8(path), newline=""))
    records, numbers = [], []
    try:
        header = next(rd, None)
        if not header or not any(h.strip() for h in header):
            raise InputError(f"{path}: no CSV header; the first line must name the columns")
        for row in rd:
            if not row:
                continue
            if len(row) > len(header):
                raise InputError(f"{path}, line {rd.line_num}: {len(row)} values for {len(header)} header columns")
            # short rows get None, so a missing value is reported like a missing field
            records.append(dict(zip(header, row + [None] * (len(header) - len(row)))))
            numbers.append(rd.line_num)
    except csv.Error as exc:
        raise InputError(f"{path}, line {rd.line_num}: bad CSV ({exc})") from None
    return Dataset(path, "csv", records=records, extra={"fieldnames": header, "line_numbers": numbers})


def _read_text(path: Path) -> Dataset:
    records, lines, numbers = [], [], []
    for no, line in enumerate(_lines(_read_utf8(path)), start=1):
        if line.strip():
            records.append({"text": line})
            lines.append(line)
            numbers.append(no)
    return Dataset(path, "text", records=records, extra={"lines": lines, "line_numbers": numbers})


def _read_parquet(path: Path) -> Dataset:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError("pyarrow", "parquet", "Reading Parquet") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    return Dataset(path, "parquet", records=table.to_pylist(), extra={"table": table})


_NPY_CHECK_ROWS = 1 << 16  # rows checked at a time: bounded memory whatever the file's size


def _read_npy(path: Path) -> Dataset:
    """Memory-mapped (read-only): a caller copies only the rows it uses, e.g. one rank's shard."""
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if X.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array (rows x dims), got shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(X.dtype, np.integer):
        raise InputError(f"{path}: expected a numeric array, got dtype {X.dtype}")
    if np.issubdtype(X.dtype, np.floating):
        for lo in range(0, X.shape[0], _NPY_CHECK_ROWS):
            bad = np.flatnonzero(~np.isfinite(X[lo : lo + _NPY_CHECK_ROWS]).all(axis=1))
            if bad.size:
                raise InputError(f"{path}, row {lo + int(bad[0])}: NaN or inf in the embedding; clean the array")
    return Dataset(path, "npy", embeddings=X)


def check_texts(texts) -> list[str]:
    """Validate a list of texts once at a public boundary: a sequence of str, not one bare str."""
    if isinstance(texts, (str, bytes)):
        raise InputError("texts must be a sequence of strings, not a single string; wrap it in a list")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"text {i} is a {type(t).__name__}, not a str: {t!r:.80}")
    return out


def record_texts(ds: Dataset, field: str | None = None, template: str | None = None) -> list[str]:
    """The text of every record: `field`, or `template` filled from the record, or the 'text' field."""
    if ds.records is None:
        raise InputError(f"{ds.path}: holds embeddings, not records; --field/--template do not apply")
    if field is not None and template is not None:
        raise InputError("give --field or --template, not both")
    if template is not None:
        template = template.replace("\\n", "\n").replace("\\t", "\t")
        names = [n for _, n, _, _ in string.Formatter().parse(template) if n]
        if not names:
            raise InputError(f"--template {template!r} names no field; use e.g. '{{instruction}}\\n{{output}}'")
        out = []
        for i, rec in enumerate(ds.records):
            values = {n: _field_text(ds, i, rec, n) for n in names}
            out.append(template.format_map(values))
        return out
    name = field or "text"
    return [_field_text(ds, i, rec, name, hint=field is None) for i, rec in enumerate(ds.records)]


def _field_text(ds: Dataset, i: int, rec: dict, name: str, hint: bool = False) -> str:
    if name not in rec:
        fields = ", ".join(map(str, rec)) or "(none)"
        fix = "pass --field NAME or --template" if hint else "choose --field from"
        raise InputError(f"{ds.row_label(i)}: no field {name!r}; {fix} (fields here: {fields})")
    value = rec[name]
    if value is None:
        raise InputError(f"{ds.row_label(i)}: field {name!r} is null; fill it or drop the record")
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def write_subset(ds: Dataset, indices: Sequence[int], out: str | os.PathLike) -> None:
    """Write the records at `indices`, in that order, in the input's format (atomically)."""
    out = Path(out)
    idx = [int(i) for i in indices]
    if ds.format in ("jsonl", "text"):
        with atomic_write(out) as fh:
            for i in idx:
                fh.write(ds.extra["lines"][i] + "\n")
    elif ds.format == "json":
        with atomic_write(out) as fh:
            json.dump([ds.records[i] for i in idx], fh, ensure_ascii=False, indent=2)
            fh.write("\n")
    elif ds.format == "csv":
        with atomic_write(out) as fh:
            writer = csv.DictWriter(fh, fieldnames=ds.extra["fieldnames"])
            writer.writeheader()
            writer.writerows(ds.records[i] for i in idx)
    elif ds.format == "parquet":
        import pyarrow.parquet as pq

        with atomic_path(out) as tmp:
            pq.write_table(ds.extra["table"].take(idx), tmp)
    elif ds.format == "npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, ds.embeddings[idx])
    else:  # pragma: no cover - formats are closed
        raise ValueError(ds.format)


def write_records_jsonl(records: Sequence[dict], out: str | os.PathLike) -> None:
    with atomic_write(out) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_json(obj: Any, out: str | os.PathLike) -> None:
    with atomic_write(out) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def write_lines(values: Sequence[Any], out: str | os.PathLike) -> None:
    with atomic_write(out) as fh:
        fh.writelines(f"{v}\n" for v in values)
