"""`datadiet tokensel run`: transformer vs flat models as the sequence length grows (Takakura & Suzuki 2023)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar
from .diffusion import parse_int_list

NAME = "tokensel"
app = typer.Typer(help="Transformers select tokens: test error vs sequence length L against flat baselines.",
                  no_args_is_help=True)


@app.command("run")
@handle_errors
def run_cmd(
    lengths: Annotated[Optional[str], typer.Option("--lengths", help="Sequence lengths (default 2,8,32,128).")] = None,
    n_grid: Annotated[Optional[str], typer.Option("--n-grid", help="Training-set sizes (default 2048).")] = None,
    no_krr: Annotated[bool, typer.Option("--no-krr", help="Skip the kernel-ridge baseline.")] = False,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..S-1; finished seeds in --out are reused.")] = 3,
    quick: Annotated[bool, typer.Option("--quick", help="The reduced config the test suite runs.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: results/tokensel-length).")] = None,
    quiet: Quiet = False,
):
    """Train a token-selecting transformer, a flat MLP and kernel ridge; report test MSE per L at the largest n."""
    import dataclasses

    from ..experiments import runner
    from ..experiments import tokensel_length as tl
    from ..report import fmt_num

    config = tl.QUICK if quick else tl.Config()
    changes: dict = {}
    if lengths is not None:
        changes["lengths"] = tuple(sorted(set(parse_int_list(lengths, "--lengths"))))
    if n_grid is not None:
        changes["ns"] = tuple(sorted(set(parse_int_list(n_grid, "--n-grid"))))
    if no_krr:
        changes["krr"] = False
    config = dataclasses.replace(config, **changes) if changes else config
    out_dir = out if out is not None else Path("results") / tl.NAME
    with progress_bar(quiet) as bar:
        task = bar.add_task("tokensel: seeds", total=seeds)
        result = runner.reproduce(tl.NAME, seeds=seeds, quick=quick, out_dir=out_dir, config=config,
                                  on_seed=lambda s, total, hit: bar.update(task, completed=s + 1))
    typer.echo(f"{result.name}: claim {'held' if result.held else 'NOT held'} — {result.rule}")
    keys = [f"{mo}_mse_L{L}" for L in config.lengths for mo in (*tl.MODELS, "best_baseline")
            if f"{mo}_mse_L{L}" in result.metrics]
    keys += [f"attn_on_jstar_L{L}_n{config.ns[-1]}" for L in config.lengths]
    keys += ["transformer_ratio_Lmax_Lmin", "best_baseline_ratio_Lmax_Lmin", "var_y"]
    for key in keys:
        m = result.metrics[key]
        typer.echo(f"  {key}  {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} (n={m['n']})")
    typer.echo(f"  result: {out_dir / 'result.json'}")
    for fig in result.figures:
        typer.echo(f"  figure: {out_dir / fig}")
