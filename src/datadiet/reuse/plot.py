"""Overlap vs step figures and a one-line-per-step terminal table for simulate/dmft results."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

from ..paths import atomic_path


def plot_overlaps(curves: Mapping[str, Sequence[dict]], path: str | Path, title: str = "") -> Path:
    """Signed and |cos| overlap with w*_1 vs step, mean ± s.e., one line per labelled table."""
    from ..figures import pyplot

    plt = pyplot()  # Figure-based: the caller's matplotlib backend is left alone

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharex=True)
    for label, rows in curves.items():
        steps = [r["step"] for r in rows]
        for ax, kind in zip(axes, ("signed", "abs")):
            mean = [r[f"{kind}_mean"] for r in rows]
            sem = [r[f"{kind}_sem"] for r in rows]
            ax.errorbar(steps, mean, yerr=sem, marker="o", ms=3, capsize=2, label=label)
    axes[0].axhline(0, color="0.6", lw=0.8)
    axes[0].set_ylabel("signed cos(w, w*₁)")
    axes[1].set_ylabel("|cos(w, w*₁)|")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def text_table(rows: Sequence[dict], width: int = 24) -> list[str]:
    """Lines `step  signed ± se  |cos| ± se  bar`, the bar a terminal plot of the signed overlap."""
    # further columns: signed_mean_2, abs_mean_2, ... (further target directions) and orth_mean
    extra = [k for k in rows[0] if re.fullmatch(r"[a-z]+_mean(_\d+)?", k) and k not in ("signed_mean", "abs_mean")]
    head = f"{'step':>5}  {'signed cos':>16}  {'|cos|':>16}" + "".join(f"  {e.replace('_mean', ''):>16}" for e in extra)
    lines = [head]
    for r in rows:
        bar = _bar(r["signed_mean"], width)
        line = (f"{int(r['step']):>5}  {r['signed_mean']:+8.4f} ± {r['signed_sem']:.4f}"
                f"  {r['abs_mean']:8.4f} ± {r['abs_sem']:.4f}")
        line += "".join(f"  {r[e]:+8.4f} ± {r[e.replace('_mean', '_sem')]:.4f}" for e in extra)
        lines.append(f"{line}  {bar}")
    return lines


def _bar(value: float, width: int) -> str:
    """A centred bar: left of '|' for negative overlaps, right for positive; full width = |cos| 1."""
    half = width // 2
    n = min(half, int(round(abs(value) * half)))
    left = " " * (half - n) + "█" * n if value < 0 else " " * half
    right = "█" * n + " " * (half - n) if value > 0 else " " * half
    return f"{left}|{right}"
