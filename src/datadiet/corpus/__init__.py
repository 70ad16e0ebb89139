"""The offline multi-domain text corpus and the built-in ShareGPT data.

`build_corpus()` writes one capped, de-duplicated, shuffled JSONL per domain plus a manifest;
`load_instructions()` gives the ShareGPT (instruction, output) records that `datadiet select` uses.
"""

from datadiet.corpus.builder import build_corpus, chunk_text, load_domain, read_manifest
from datadiet.corpus.sharegpt import (
    InstructionStats,
    instruction_stats,
    load_conversations,
    load_instructions,
)
from datadiet.corpus.sources import DOMAINS, Absent, Source, open_source

__all__ = [
    "DOMAINS",
    "Absent",
    "InstructionStats",
    "Source",
    "build_corpus",
    "chunk_text",
    "instruction_stats",
    "load_conversations",
    "load_domain",
    "load_instructions",
    "open_source",
    "read_manifest",
]
