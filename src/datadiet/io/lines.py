"""JSON Lines, plain text (one example per line) and JSON arrays: read, and write a subset back.

JSONL and text keep every record's line as it was, with its ending and the file's BOM, so a subset
holds the input's bytes; a JSON array is written again as a JSON array of the records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from .dataset import Dataset
from .raw import decode_utf8, first_ending, read_bytes, split_lines, write_texts


def read_jsonl(path: Path, gz: bool = False) -> Dataset:
    """One JSON object a line; blank lines are skipped."""
    text, bom = decode_utf8(path, read_bytes(path, gz))
    ds = _line_dataset(path, "jsonl", text, bom)
    ds.records = [_json_object(path, no, line) for line, no in zip(ds.extra["lines"], ds.extra["line_numbers"])]
    return ds


def read_text(path: Path, gz: bool = False) -> Dataset:
    """One example a line, as the record's 'text'; blank lines are skipped."""
    text, bom = decode_utf8(path, read_bytes(path, gz))
    ds = _line_dataset(path, "text", text, bom)
    ds.records = [{"text": line} for line in ds.extra["lines"]]
    return ds


def _line_dataset(path: Path, fmt: str, text: str, bom: bool) -> Dataset:
    """The non-blank lines of `text` with their endings and 1-based line numbers (records filled in later)."""
    pairs = split_lines(text)
    lines, endings, numbers = [], [], []
    for no, (line, ending) in enumerate(pairs, start=1):
        if line.strip():
            lines.append(line)
            endings.append(ending)
            numbers.append(no)
    extra = {"lines": lines, "endings": endings, "line_numbers": numbers, "bom": bom,
             "newline": first_ending(e for _, e in pairs)}
    return Dataset(path, fmt, records=[], extra=extra)


def _json_object(path: Path, no: int, line: str) -> dict:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}, line {no}: not valid JSON ({exc.msg}); fix or remove the line") from None
    if not isinstance(rec, dict):
        raise InputError(f"{path}, line {no}: expected a JSON object, got {type(rec).__name__}")
    return rec


def write_lines_subset(ds: Dataset, idx: Sequence[int], out: Path, compress: bool) -> None:
    """The selected lines as they were read: same text, same ending, the BOM if the input had one.

    A Dataset built in code may give only "lines"; its endings are then "\\n".
    """
    lines = ds.extra["lines"]
    endings = ds.extra.get("endings")
    newline = ds.extra.get("newline", "\n")
    pieces = (lines[i] + ((endings[i] if endings else "") or newline) for i in idx)
    write_texts(out, pieces, bom=ds.extra.get("bom", False), compress=compress)


def read_json(path: Path, gz: bool = False) -> Dataset:
    """A JSON array of objects (a BOM is tolerated)."""
    text, _ = decode_utf8(path, read_bytes(path, gz))
    try:
        data = json.loads(text)
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


def write_json_subset(ds: Dataset, idx: Sequence[int], out: Path, compress: bool) -> None:
    """A JSON array of the selected records, in order."""
    text = json.dumps([ds.records[i] for i in idx], ensure_ascii=False, indent=2) + "\n"
    write_texts(out, [text], compress=compress)
