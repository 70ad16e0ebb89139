"""`datadiet diffusion rate`: the diffusion estimator's TV error vs n against the minimax rate (Oko et al. 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "diffusion"
app = typer.Typer(help="Diffusion models as distribution estimators: error vs n at the minimax rate.",
                  no_args_is_help=True)


def parse_int_list(text: str, option: str) -> tuple[int, ...]:
    """'256,1024' or '2^8..2^14' (powers of two) -> a tuple of ints; InputError naming the option otherwise."""
    from ..errors import InputError

    text = text.strip()
    try:
        if ".." in text:
            a, b = (p.strip() for p in text.split(".."))
            lo, hi = (int(p[2:]) if p.startswith("2^") else None for p in (a, b))
            if lo is None or hi is None or lo > hi:
                raise ValueError
            return tuple(2**k for k in range(lo, hi + 1))
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"{option} {text!r}: give comma-separated integers (256,1024,4096) or 2^8..2^14") from None
    if not vals:
        raise InputError(f"{option} is empty: give comma-separated integers, e.g. 256,1024,4096")
    return vals


@app.command("rate")
@handle_errors
def rate(
    density: Annotated[Optional[str], typer.Option("--density", help="lacunary-0.5 | lacunary-1.5 | kink-0.5 | beta "
                                                   "(default: lacunary-0.5 and lacunary-1.5).")] = None,
    n_grid: Annotated[Optional[str], typer.Option("--n-grid", help="Sample sizes, e.g. 2^8..2^14 or 256,1024,4096.")] = None,
    dsm_grid: Annotated[Optional[str], typer.Option("--dsm-grid", help="Sizes (within --n-grid) where the DSM network "
                                                    "is trained (default 2^8,2^10,2^12,2^14; with --n-grid: its first, middle, "
                                                    "last).")] = None,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..S-1; finished seeds in --out are reused.")] = 3,
    quick: Annotated[bool, typer.Option("--quick", help="The reduced config the test suite runs.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/diffusion-rate).")] = None,
    quiet: Quiet = False,
):
    """Fit a score network by empirical DSM to n samples of a density of known smoothness s, run the reverse SDE,
    fit log TV vs log n and compare with -s/(2s+d); the closed-form score, a KDE and a memorizing score alongside."""
    import dataclasses

    from ..experiments import diffusion_rate as dr
    from ..experiments import runner
    from ..report import fmt_num

    config = dr.QUICK if quick else dr.Config()
    changes = {}
    if density is not None:
        changes["densities"] = (density,)
    if n_grid is not None:
        ns = tuple(sorted(set(parse_int_list(n_grid, "--n-grid"))))
        changes["ns"] = ns
        changes["dsm_ns"] = tuple(sorted({ns[0], ns[len(ns) // 2], ns[-1]}))
    if dsm_grid is not None:
        changes["dsm_ns"] = tuple(sorted(set(parse_int_list(dsm_grid, "--dsm-grid"))))
    config = dataclasses.replace(config, **changes) if changes else config
    out_dir = out if out is not None else Path("results") / dr.NAME
    with progress_bar(quiet) as bar:
        task = bar.add_task("diffusion rate: seeds", total=seeds)
        result = runner.reproduce(dr.NAME, seeds=seeds, quick=quick, out_dir=out_dir, config=config,
                                  on_seed=lambda s, total, hit: bar.update(task, completed=s + 1))
    typer.echo(f"{result.name}: claim {'held' if result.held else 'NOT held'} — {result.rule}")
    last = {f"_n{config.ns[-1]}", f"_n{config.dsm_ns[-1]}"}
    shown = [k for k in result.metrics if k.startswith(("slope", "theory_slope"))
             or (k.startswith(("tv_", "girsanov_")) and not k.startswith("tv_ratio") and k.endswith(tuple(last)))]
    for key in sorted(shown):
        m = result.metrics[key]
        typer.echo(f"  {key}  {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} (n={m['n']})")
    typer.echo(f"  result: {out_dir / 'result.json'}")
    for fig in result.figures:
        typer.echo(f"  figure: {out_dir / fig}")
