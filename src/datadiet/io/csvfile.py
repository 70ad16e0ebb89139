"""CSV: records keyed by the header, and the raw text of the header and of every row for write-back.

Write-back copies each row's text (quoting, fields spanning lines, ragged rows, duplicate column names,
line endings) instead of re-serializing the parsed values, which would change all of those.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputError
from .dataset import Dataset
from .raw import decode_utf8, first_ending, read_bytes, write_texts

# the csv module refuses fields over 128 KiB by default; a long document is one field
_FIELD_LIMIT = 2**31 - 1


def read_csv(path: Path, gz: bool = False) -> Dataset:
    """The first row names the columns; every later non-blank row is a record."""
    text, bom = decode_utf8(path, read_bytes(path, gz))
    limit = csv.field_size_limit(_FIELD_LIMIT)  # long texts are normal here; restored below
    try:
        rows = _raw_rows(path, text)
        header, header_raw, header_line = next(rows, (None, "", 1))
        if not header or not any(h.strip() for h in header):
            raise InputError(f"{path}: no CSV header; the first line must name the columns")
        records, raws, numbers = [], [], []
        for row, raw, line in rows:
            if not row:  # a blank line: no record, and not written back
                continue
            records.append(_record(header, row))
            raws.append(_cut_ending(raw))
            numbers.append(line)
    finally:
        csv.field_size_limit(limit)
    counts = Counter(header)
    duplicates = {name: [i + 1 for i, h in enumerate(header) if h == name] for name, n in counts.items() if n > 1}
    extra = {"fieldnames": header, "header": _cut_ending(header_raw), "header_line": header_line,
             "rows": raws, "line_numbers": numbers, "duplicates": duplicates, "bom": bom,
             "newline": first_ending([_cut_ending(header_raw)[1]] + [e for _, e in raws])}
    return Dataset(path, "csv", records=records, extra=extra)


def _raw_rows(path: Path, text: str) -> Iterator[tuple[list[str], str, int]]:
    """(parsed row, its raw text with line ending, its first line number) for every CSV row.

    csv.reader asks for one more physical line only while a row is unfinished, so the lines fed to it
    since the last row are exactly that row's text.
    """
    taken: list[str] = []

    def feed() -> Iterator[str]:
        # newline="": split at \n, \r\n and \r as the csv module does, keeping the endings
        for physical in io.StringIO(text, newline=""):
            taken.append(physical)
            yield physical

    reader = csv.reader(feed())
    first = 1
    try:
        for row in reader:
            yield row, "".join(taken), first
            taken.clear()
            first = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}, line {reader.line_num}: bad CSV ({exc}); fix the quoting") from None


def _record(header: list[str], row: list[str]) -> dict:
    """The row keyed by column name. A short row gives None for its missing columns (reported like a
    null field); a long row's extra values have no name and stay only in the raw text."""
    rec: dict = {}
    for i, name in enumerate(header):
        rec.setdefault(name, row[i] if i < len(row) else None)  # a duplicated name keeps its first value
    return rec


def _cut_ending(raw: str) -> tuple[str, str]:
    """(text, line ending) of a raw row; the ending is "" for a last row without one."""
    for ending in ("\r\n", "\n", "\r"):
        if raw.endswith(ending):
            return raw[: -len(ending)], ending
    return raw, ""


def write_csv_subset(ds: Dataset, idx: Sequence[int], out: Path, compress: bool) -> None:
    """The header once, then the selected rows, each as the input's text (a BOM if it had one)."""
    newline = ds.extra["newline"]
    rows = ds.extra["rows"]
    head, head_end = ds.extra["header"]
    pieces = [head + (head_end or newline)]
    pieces.extend(rows[i][0] + (rows[i][1] or newline) for i in idx)
    write_texts(out, pieces, bom=ds.extra["bom"], compress=compress)
