"""Build the offline multi-domain corpus: chunk, de-duplicate, shuffle and cap each domain, write JSONL.

Output (default ``cache_dir("corpus")``): one ``<domain>.jsonl`` per domain, lines
``{"text", "domain", "source"}``, and ``manifest.json``. The same arguments give byte-identical files.

Rerun: ``python -c "from datadiet.corpus import build_corpus; print(build_corpus())"``
(or ``datadiet corpus build``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from datadiet import __version__
from datadiet.corpus.sources import DOMAINS, Absent, open_source
from datadiet.errors import InputError
from datadiet.paths import atomic_write, cache_dir

log = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, "int | None"], None]

#: Items are read (in shuffled order) until at least MIN_ITEMS items and OVERSAMPLE * cap_bytes of unique
#: chunks are collected, so huge sources (22k man pages) are sampled, not read whole, while a domain of a
#: few big files (fortune files) is read whole; the final cap then draws from the shuffled pool.
OVERSAMPLE = 2
MIN_ITEMS = 256

_BLANK = re.compile(r"\n[ \t]*\n")


def _nb(s: str) -> int:
    return len(s.encode("utf-8"))


def _pack(pieces: Iterable[str], sep: str, limit: int) -> list[str]:
    """Greedily join `pieces` with `sep` into strings of at most `limit` bytes (a bigger piece stands alone)."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    sep_n = _nb(sep)
    for p in pieces:
        n = _nb(p)
        if cur and size + sep_n + n > limit:
            out.append(sep.join(cur))
            cur, size = [], 0
        size = n if not cur else size + sep_n + n
        cur.append(p)
    if cur:
        out.append(sep.join(cur))
    return out


def _hard_split(paragraph: str, limit: int) -> list[str]:
    """Split an over-long paragraph at line, then space boundaries into pieces of <= `limit` bytes."""
    units: list[str] = []
    for line in paragraph.split("\n"):
        if _nb(line) <= limit:
            units.append(line)
        else:
            words = re.findall(r"\s*\S+", line)
            units.extend(w.strip() for w in _pack(words, "", limit))
    return _pack(units, "\n", limit)


def chunk_text(text: str, chunk_bytes: int = 2048) -> list[str]:
    """Cut `text` into ~`chunk_bytes` UTF-8 pieces at paragraph (blank-line) boundaries.

    Paragraphs are packed greedily up to `chunk_bytes`; one longer than ``2 * chunk_bytes`` is hard-split
    at line then space boundaries. So every chunk is <= ``2 * chunk_bytes`` bytes unless it is a single
    unsplittable token. Whitespace-only chunks are dropped; the sequence of whitespace-separated tokens
    is preserved.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[str] = []
    pending: list[str] = []
    for para in _BLANK.split(text):
        para = para.lstrip("\n").rstrip()
        if not para.strip():
            continue
        if _nb(para) > 2 * chunk_bytes:
            out.extend(_pack(pending, "\n\n", chunk_bytes))
            pending = []
            out.extend(_hard_split(para, chunk_bytes))
        else:
            pending.append(para)
    out.extend(_pack(pending, "\n\n", chunk_bytes))
    return [c for c in out if c.strip()]


def _clean(text: str) -> str:
    """Make `text` encodable as UTF-8 (lone surrogates from JSON escapes become '?')."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")


def _build_domain(src, index: int, *, cap_bytes: int, chunk_bytes: int, seed: int,
                  progress: ProgressHook | None) -> list[tuple[str, str]]:
    """Chunks (text, source label) kept for one domain: shuffled, de-duplicated, capped."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    items = src.items
    total = len(items)
    seen: set[bytes] = set()
    pool: list[tuple[str, str]] = []
    pool_bytes = 0
    for done, i in enumerate(rng.permutation(total), 1):
        item = items[int(i)]
        for doc in item.load():
            for chunk in chunk_text(_clean(doc), chunk_bytes):
                b = chunk.encode("utf-8")
                h = hashlib.blake2b(b, digest_size=16).digest()
                if h in seen:
                    continue
                seen.add(h)
                pool.append((chunk, item.label))
                pool_bytes += len(b)
        if progress is not None and (done % 64 == 0 or done == total):
            progress(src.domain, done, total)
        if pool_bytes >= OVERSAMPLE * cap_bytes and done >= MIN_ITEMS:
            if progress is not None and done < total:
                progress(src.domain, total, total)  # enough sampled: close the bar
            break
    kept: list[tuple[str, str]] = []
    size = 0
    for j in rng.permutation(len(pool)):
        if size >= cap_bytes:
            break
        chunk = pool[int(j)]
        kept.append(chunk)
        size += _nb(chunk[0])
    return kept


def _write_jsonl(path: Path, domain: str, chunks: list[tuple[str, str]]) -> tuple[int, str]:
    h = hashlib.sha256()
    text_bytes = 0
    with atomic_write(path, "wb") as fh:
        for text, label in chunks:
            line = json.dumps({"text": text, "domain": domain, "source": label}, ensure_ascii=False) + "\n"
            data = line.encode("utf-8")
            h.update(data)
            fh.write(data)
            text_bytes += _nb(text)
    return text_bytes, h.hexdigest()


def build_corpus(out_dir: str | Path | None = None, *, domains: Iterable[str] | None = None,
                 cap_bytes: int = 10_000_000, chunk_bytes: int = 2048, seed: int = 0,
                 progress: ProgressHook | None = None) -> dict:
    """Build the corpus into `out_dir` (default ``cache_dir("corpus")``) and return its manifest.

    Per domain: chunk documents (`chunk_text`), drop exact duplicate chunks, shuffle with
    ``SeedSequence([seed, domain index in DOMAINS])``, keep chunks until their UTF-8 text reaches
    `cap_bytes` (so at most cap_bytes + one chunk), write ``<domain>.jsonl`` atomically. Domains whose
    data is missing are listed under ``"absent"`` with the reason. `progress(domain, done, total)` is
    called as items (files, conversations) are read. Same arguments -> byte-identical files.
    """
    if not isinstance(cap_bytes, int) or cap_bytes <= 0:
        raise InputError(f"cap_bytes must be a positive integer, got {cap_bytes!r}")
    if not isinstance(chunk_bytes, int) or chunk_bytes < 16:
        raise InputError(f"chunk_bytes must be an integer >= 16, got {chunk_bytes!r}")
    if not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    wanted = list(DOMAINS) if domains is None else list(dict.fromkeys(domains))
    unknown = [d for d in wanted if d not in DOMAINS]
    if unknown:
        raise InputError(f"unknown corpus domain(s) {', '.join(unknown)}; choose from: {', '.join(DOMAINS)}")
    out = Path(out_dir) if out_dir is not None else cache_dir("corpus")
    out.mkdir(parents=True, exist_ok=True)

    built, absent = [], []
    for domain in wanted:
        t0 = time.perf_counter()
        src = open_source(domain)
        if isinstance(src, Absent):
            log.info("corpus: %s absent: %s", domain, src.reason)
            absent.append({"domain": domain, "reason": src.reason})
            continue
        chunks = _build_domain(src, DOMAINS.index(domain), cap_bytes=cap_bytes, chunk_bytes=chunk_bytes,
                               seed=seed, progress=progress)
        name = f"{domain}.jsonl"
        nbytes, digest = _write_jsonl(out / name, domain, chunks)
        built.append({"domain": domain, "source": src.source, "version": src.version,
                      "documents": len(chunks), "bytes": nbytes, "sha256": digest, "file": name})
        log.info("corpus: %s: %d chunks, %d bytes in %.1fs", domain, len(chunks), nbytes,
                 time.perf_counter() - t0)
    manifest = {"domains": built, "absent": absent, "cap_bytes": cap_bytes, "chunk_bytes": chunk_bytes,
                "seed": seed, "datadiet_version": __version__}
    with atomic_write(out / "manifest.json") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return manifest


def _dir(dir: str | Path | None) -> Path:
    return Path(dir) if dir is not None else cache_dir("corpus")


def read_manifest(dir: str | Path | None = None) -> dict:
    """The manifest of a built corpus (default ``cache_dir("corpus")``); InputError if none was built there."""
    path = _dir(dir) / "manifest.json"
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"no corpus manifest at {path}: run `datadiet corpus build` first") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"corpus manifest {path} is not valid JSON ({exc}): run `datadiet corpus build` again") from None


def load_domain(domain: str, dir: str | Path | None = None) -> list[dict]:
    """The records ``{"text", "domain", "source"}`` of one built domain; InputError if it was not built."""
    manifest = read_manifest(dir)
    entry = next((d for d in manifest.get("domains", []) if d.get("domain") == domain), None)
    if entry is None:
        built = ", ".join(d.get("domain", "?") for d in manifest.get("domains", [])) or "none"
        raise InputError(f"corpus domain {domain!r} was not built in {_dir(dir)} (built: {built}): "
                         f"run `datadiet corpus build`")
    path = _dir(dir) / entry["file"]
    try:
        with open(path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        raise InputError(f"corpus file {path} is missing: run `datadiet corpus build` again") from None
