"""datadiet's own outputs (not subsets of an input): JSON, JSON Lines and one value a line, atomically."""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from ..paths import atomic_write


def write_records_jsonl(records: Sequence[dict], out: str | os.PathLike) -> None:
    """One JSON object a line."""
    with atomic_write(out) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_json(obj: Any, out: str | os.PathLike) -> None:
    """`obj` as indented JSON."""
    with atomic_write(out) as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def write_lines(values: Sequence[Any], out: str | os.PathLike) -> None:
    """str() of each value, one a line."""
    with atomic_write(out) as fh:
        fh.writelines(f"{v}\n" for v in values)
