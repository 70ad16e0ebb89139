"""Number, time and text formatting shared by the HTML page, the Markdown file and the terminal."""

from __future__ import annotations

import html
import math


def fmt_num(x: float) -> str:
    """Four significant digits; integers as integers."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def fmt_metric(m: dict) -> str:
    """``mean ± sem`` of a summarize() dict (four significant digits each)."""
    return f"{fmt_num(m['mean'])} ± {fmt_num(m['sem'])}"


def fmt_seconds(seconds: float | None) -> str:
    """A duration a reader takes in at a glance: "42.1 s", "3 min 20 s", "1 h 05 min"; None -> "unknown"."""
    if seconds is None:
        return "unknown"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s" if s < 9.95 else f"{s:.0f} s"
    if s < 3600:
        m, r = divmod(round(s), 60)
        return f"{m} min {r:02d} s"
    h, r = divmod(round(s / 60), 60)
    return f"{h} h {r:02d} min"


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (… marks a cut)."""
    s = " ".join(str(text).split())
    if len(s) <= limit:
        return s
    cut = s[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def esc(x) -> str:
    """Text safe inside HTML (element content and quoted attributes)."""
    return html.escape(str(x), quote=True)


def md_cell(text) -> str:
    """Text safe inside a Markdown table cell or paragraph (pipes, newlines, HTML)."""
    s = html.escape(str(text), quote=False)
    return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
