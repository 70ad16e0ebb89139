"""The Dataset record: what read_dataset returns and write_subset writes back from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Dataset:
    """What was read: records (dicts) for text formats, or an embedding matrix for .npy.

    `extra` holds what writing a subset back needs: raw lines and their endings (jsonl/text), the raw
    CSV header and rows, the Arrow table (parquet), the `datasets.Dataset` (format "hf").
    """

    path: Path | None
    format: str
    records: list[dict] | None = None
    embeddings: np.ndarray | None = None
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
