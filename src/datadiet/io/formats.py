"""Which reader a path needs, told by its name: the extension, an optional .gz, or a folder."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

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
    ".arrow": "hf",  # one Arrow stream file as written by Hugging Face datasets
}

# the formats read through gzip: the line-based ones, whose records are copied back byte for byte
GZIP_FORMATS = frozenset({"jsonl", "json", "csv", "text"})


def extensions() -> str:
    """The data file names read_dataset accepts, plain and gzipped."""
    plain = ", ".join(sorted(FORMATS))
    gz = ", ".join(sorted(ext + ".gz" for ext, fmt in FORMATS.items() if fmt in GZIP_FORMATS))
    return f"{plain}, {gz}"


def supported() -> str:
    """Everything read_dataset accepts, for the one-line messages that refuse a path."""
    return f"{extensions()}, or a datasets save_to_disk folder"


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the name says gzip (`data.jsonl.gz`)."""
    return Path(path).name.lower().endswith(".gz")


def detect_format(path: str | os.PathLike) -> str:
    """The format of a data file by its name (jsonl, json, csv, text, parquet, npy or hf), .gz or not."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = (suffixes[-2] if len(suffixes) > 1 else "") if gz else (suffixes[-1] if suffixes else "")
    fmt = FORMATS.get(ext)
    if fmt is None or (gz and fmt not in GZIP_FORMATS):
        kind = "".join(suffixes[-2:]) if gz else (ext or "(no extension)")
        raise InputError(f"{path}: unknown file type {kind!r}; use one of {supported()}")
    return fmt



def wants_gzip(out: str | os.PathLike) -> bool:
    """Whether an output path asks for gzip: its name ends with .gz. (A caller that writes to a
    temporary name first passes ``compress=`` to write_subset instead.)"""
    return Path(out).name.lower().endswith(".gz")
