"""`datadiet mfld`: mean-field Langevin dynamics on a k-sparse parity, against kernels and SGD.

    datadiet mfld parity --d 40 --k 2 --n 400 --seeds 5 --out results/mfld-parity
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "mfld"
app = typer.Typer(help="Mean-field Langevin dynamics (noisy particle GD with entropy) on k-sparse parity.",
                  no_args_is_help=True)

RESULT_NAME = "mfld-parity"
CLAIM = ("MFLD learns a k-sparse parity on {±1/√d}^d from n ≈ C·d samples, where kernel methods need n ≳ d^k "
         "(Suzuki, Wu, Oko, Nitanda, NeurIPS 2023).")
RULE = ("held iff the mean over seeds of MFLD's test accuracy exceeds that of the best kernel method "
        "(kernel ridge / SVM with RBF and polynomial kernels, NTK ridge; each kernel's hyperparameters "
        "picked on the test set, an optimistic choice for the kernels)")
QUICK = {"particles": 200, "steps": 500}


@app.command("parity")
@handle_errors
def parity_cmd(
    d: Annotated[int, typer.Option("--d", help="Input dimension d (inputs uniform on {±1/√d}^d).")] = 40,
    k: Annotated[int, typer.Option("--k", help="Parity order k: y = z_1 ⋯ z_k (signs).")] = 2,
    n: Annotated[int, typer.Option("--n", help="Training samples n.")] = 400,
    particles: Annotated[Optional[int], typer.Option("--particles", help="Particles (neurons) M (default 500; with --quick 200).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="MFLD steps (and SGD steps of the ReLU baseline) (default 2000; with --quick 500).")] = None,
    eta: Annotated[float, typer.Option("--eta", help="Step size η.")] = 1.0,
    lam: Annotated[Optional[float], typer.Option("--lam", help="Entropy weight λ (default 0.1/d, the paper's scaling).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float64 | float32 (float32: about 2x faster on CPU at M >= 1000).")] = "float64",
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds 0..N-1 (data, init and noise).")] = 5,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for result.json (registry Result schema).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small run: 200 particles, 500 steps (unless given).")] = False,
    quiet: Quiet = False,
):
    """Test accuracy of MFLD and of the baselines on the k-sparse parity, mean ± sem over seeds."""
    from .. import __version__
    from ..errors import InputError
    from ..experiments.base import Result, summarize
    from ..experiments.runner import _git_commit
    from ..mfld.harness import BASELINES, compare_on_parity
    from ..mfld.solver import MFLDConfig

    particles = particles if particles is not None else (QUICK["particles"] if quick else 500)
    steps = steps if steps is not None else (QUICK["steps"] if quick else 2000)
    if seeds < 1:
        raise InputError(f"--seeds {seeds} must be at least 1")
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    if not isinstance(d, int) or d < 1:
        raise InputError(f"--d {d!r} must be a positive integer")
    lam = 0.1 / d if lam is None else lam
    MFLDConfig(particles=particles, steps=steps, eta=eta, lam=lam, dtype=dtype)  # validates the solver options
    t0 = time.perf_counter()
    runs = []
    with progress_bar(quiet) as bar:
        task = bar.add_task("mfld parity", total=seeds * steps)
        for s in range(seeds):
            def on_step(t, total, s=s):
                if t % 50 == 0 or t == total:
                    bar.update(task, completed=s * steps + t, description=f"mfld parity: seed {s}")
            runs.append(compare_on_parity(d, k, n, particles=particles, steps=steps, eta=eta, lam=lam, seed=s,
                                          dtype=dtype, on_step=on_step))
    metrics = {"mfld_accuracy": summarize([r["mfld"] for r in runs]),
               "kernel_accuracy": summarize([r["kernel"] for r in runs])}
    for b in BASELINES:
        metrics[f"{b}_accuracy"] = summarize([r[b] for r in runs])
    held = metrics["mfld_accuracy"]["mean"] > metrics["kernel_accuracy"]["mean"]
    typer.echo(f"k-sparse parity d={d} k={k} n={n}: test accuracy over {seeds} seed(s) "
               f"(M={particles}, {steps} steps, η={eta:g}, λ={lam:g})")
    width = max(len(m) for m in metrics)
    for key, m in metrics.items():
        typer.echo(f"  {key.ljust(width)}  {m['mean']:.4f} ± {m['sem']:.4f}")
    typer.echo(f"MFLD {'beats' if held else 'does NOT beat'} the best kernel")
    if out is not None:
        config = {"d": d, "k": k, "n": n, "particles": particles, "steps": steps, "eta": eta, "lam": lam, "dtype": dtype,
                  "n_test": 2000, "input": "uniform on {±1/sqrt(d)}^d", "baselines": list(BASELINES)}
        result = Result(name=RESULT_NAME, claim=CLAIM, held=bool(held), rule=RULE, metrics=metrics, config=config,
                        seeds=list(range(seeds)), seconds=round(time.perf_counter() - t0, 2), figures=[],
                        quick=quick, details={"per_seed": runs}, datadiet_version=__version__,
                        git_commit=_git_commit())
        typer.echo(f"  result: {result.save(out)}")
