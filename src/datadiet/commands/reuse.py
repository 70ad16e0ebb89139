"""`datadiet reuse simulate|dmft`: overlaps of a two-layer student, finite d or the d → ∞ limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "reuse"
app = typer.Typer(help="When reusing a batch beats fresh data: simulate two-layer networks on Gaussian "
                       "single/multi-index targets (arXiv 2402.03220), or solve their DMFT.",
                  no_args_is_help=True)

Target = Annotated[str, typer.Option("--target", help="he1..he6, z1z2, z1z2z3, staircase, staircase3, he1+he3, "
                                     "he1+he3raw (z1 + He_3(z2), unnormalized); wrap as tanh:NAME or sign:NAME.")]
D = Annotated[int, typer.Option("--d", help="Input dimension d.")]
Alpha = Annotated[float, typer.Option("--alpha", help="Samples per batch n = alpha·d.")]
Eta = Annotated[float, typer.Option("--eta", help="Step size η on the mean squared loss (SGD: η/d per sample).")]
Steps = Annotated[int, typer.Option("--steps", help="Gradient steps.")]
Passes = Annotated[str, typer.Option("--passes", help="multi: reuse one batch every step; one: a fresh batch per step.")]
Student = Annotated[str, typer.Option("--student", help="Student activation: relu | tanh | erf.")]
Width = Annotated[int, typer.Option("--width", help="Hidden units p.")]
Seeds = Annotated[int, typer.Option("--seeds", help="Independent runs (seeds 0..S-1); mean ± s.e. over them.")]
Out = Annotated[Optional[Path], typer.Option("--out", help="Write overlaps.csv, overlaps.png and summary.json here.")]
Spherical = Annotated[bool, typer.Option("--spherical/--no-spherical", help="Renormalize each w_j after every step.")]
TrainA = Annotated[bool, typer.Option("--train-second-layer/--fixed-second-layer", help="Also train a (default: fixed a_j = 1/√p).")]
Ridge = Annotated[float, typer.Option("--ridge", help="Weight decay λ on the first layer.")]
Noise = Annotated[float, typer.Option("--noise", help="Label noise standard deviation.")]
SecondLayer = Annotated[str, typer.Option("--second-layer", help="ones: a_j = 1/√p; signs: alternating ±1/√p.")]
Init = Annotated[str, typer.Option("--init", help="random (uniform on the sphere) | orthogonal (orthonormal rows "
                                   "⊥ the target, the DMFT's initialization).")]


@app.command("simulate")
@handle_errors
def simulate_cmd(
    target: Target = "he3", d: D = 800, alpha: Alpha = 4.0, eta: Eta = 2.0, steps: Steps = 3,
    passes: Passes = "multi", student: Student = "tanh", width: Width = 1, seeds: Seeds = 40, out: Out = None,
    algorithm: Annotated[str, typer.Option("--algorithm", help="gd (full batch) | sgd (online, one sample per step).")] = "gd",
    repetition: Annotated[str, typer.Option("--repetition", help="SGD: none | twice | extragradient.")] = "none",
    record_every: Annotated[int, typer.Option("--record-every", help="Record the overlaps every this many steps.")] = 1,
    spherical: Spherical = False, train_second_layer: TrainA = False, ridge: Ridge = 0.0, noise: Noise = 0.0,
    init: Init = "random", second_layer: SecondLayer = "ones",
    backend: Annotated[str, typer.Option("--backend", help="numpy | torch (CUDA when present).")] = "numpy",
    dtype: Annotated[str, typer.Option("--dtype", help="float32 | float64.")] = "float32",
    quiet: Quiet = False,
):
    """Simulate GD/SGD at finite d over seeds; print the overlap with w*₁ per step (mean ± s.e.)."""
    from ..reuse.simulate import SimConfig, simulate

    cfg = SimConfig(target=target, d=d, alpha=alpha, eta=eta, steps=steps, passes=passes, student=student,
                    width=width, algorithm=algorithm, repetition=repetition, record_every=record_every,
                    spherical=spherical, train_second_layer=train_second_layer, ridge=ridge, noise=noise,
                    init=init, second_layer=second_layer, backend=backend, dtype=dtype)
    cfg.validate()
    if seeds < 1:
        from ..errors import InputError

        raise InputError(f"--seeds {seeds} must be at least 1")
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"reuse simulate ({passes if algorithm == 'gd' else 'sgd ' + repetition})",
                            total=seeds * steps)
        result = simulate(cfg, seeds, on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    label = f"{algorithm} {passes}-pass" if algorithm == "gd" else f"sgd repetition={repetition}"
    _print(result.table(), f"{result.target.name}, d={d}, n={cfg.n}, η={eta}, {student} p={width}, {label}, "
           f"{seeds} seeds, {result.seconds:.1f}s")
    if out is not None:
        _write(out, result.summary(), {label: result.table()}, result.write_csv)


@app.command("dmft")
@handle_errors
def dmft_cmd(
    target: Target = "he3", alpha: Alpha = 4.0, eta: Eta = 2.0, steps: Steps = 3, passes: Passes = "multi",
    student: Student = "tanh", width: Width = 1, out: Out = None,
    d: Annotated[int, typer.Option("--d", help="With --compare: the simulated dimension.")] = 800,
    seeds: Annotated[int, typer.Option("--seeds", help="With --compare: simulated seeds.")] = 40,
    compare: Annotated[bool, typer.Option("--compare", help="Also simulate at --d with --seeds and print both.")] = False,
    paths: Annotated[int, typer.Option("--paths", help="Monte Carlo paths of the effective sample.")] = 100_000,
    repeats: Annotated[int, typer.Option("--repeats", help="Independent Monte Carlo solutions (for the error bars).")] = 4,
    spherical: Spherical = False, train_second_layer: TrainA = False, ridge: Ridge = 0.0, noise: Noise = 0.0,
    second_layer: SecondLayer = "ones", init: Init = "random",
    quiet: Quiet = False,
):
    """Solve the DMFT (d → ∞) of GD on n = alpha·d samples; print the overlap with w*₁ per step."""
    from ..reuse.dmft import solve_dmft

    res = solve_dmft(target, student=student, alpha=alpha, eta=eta, steps=steps, passes=passes, width=width,
                     second_layer=second_layer, train_second_layer=train_second_layer, ridge=ridge, noise=noise, spherical=spherical,
                     paths=paths, repeats=repeats)
    rows = res.table()
    _print(rows, f"DMFT (d → ∞) {target}, α={alpha}, η={eta}, {student} p={width}, {passes}-pass, "
           f"{repeats}×{paths} paths (± is Monte Carlo error)")
    curves = {"DMFT": rows}
    summary = {"dmft": {"steps": res.steps.tolist(), "cosine": res.cosine.tolist(), "cosine_sem": res.cosine_sem.tolist(),
                        "m": res.m.tolist(),
                        "test_error": res.test_error.tolist(), **res.details}}
    if compare:
        from ..reuse.simulate import SimConfig, simulate

        sim = simulate(SimConfig(target=target, d=d, alpha=alpha, eta=eta, steps=steps, passes=passes,
                                 student=student, width=width, spherical=spherical, noise=noise, ridge=ridge,
                                 train_second_layer=train_second_layer, second_layer=second_layer, init=init), seeds)
        _print(sim.table(), f"simulation d={d}, {seeds} seeds")
        curves[f"simulation d={d}"] = sim.table()
        summary["simulation"] = sim.summary()
    if out is not None:
        from ..reuse.simulate import write_rows_csv

        _write(out, summary, curves, lambda path: write_rows_csv(rows, path))


def _print(rows, header: str) -> None:
    from ..reuse.plot import text_table

    typer.echo(header)
    for line in text_table(rows):
        typer.echo(line)


def _write(out: Path, summary: dict, curves: dict, write_csv) -> None:
    from ..paths import atomic_write
    from ..reuse.plot import plot_overlaps

    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "overlaps.csv")
    plot_overlaps(curves, out / "overlaps.png")
    with atomic_write(out / "summary.json") as fh:
        json.dump(summary, fh, indent=2)
        fh.write("\n")
    typer.echo(f"  outputs: {out}/overlaps.csv, overlaps.png, summary.json")
