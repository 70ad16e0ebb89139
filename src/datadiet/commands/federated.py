"""`datadiet federated run`: DIFF2 / DP-GD with an accountant, sub-model FL and its peers (issue 8)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..clikit import Quiet, handle_errors, progress_bar

NAME = "federated"
app = typer.Typer(help="Federated learning: DIFF2 private optimization and sub-model FL (in-process or Flower).",
                  no_args_is_help=True)


@app.command("run")
@handle_errors
def run_cmd(
    method: Annotated[str, typer.Option("--method", help="diff2|dpgd|dpsgd|scalablefl|heterofl|fedavg|fedbn|fedper.")],
    clients: Annotated[int, typer.Option("--clients", help="Number of clients P.")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", help="Communication rounds R.")] = 50,
    epsilon: Annotated[Optional[float], typer.Option("--epsilon", help="Target ε (δ = 1e-5) for diff2/dpgd/dpsgd; "
                                                     "ignored by the non-private methods.")] = 1.0,
    engine: Annotated[str, typer.Option("--engine", help="inprocess or flower (Flower simulation on Ray).")]
    = "inprocess",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data split, initialization and noise.")] = 0,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for result.json.")] = None,
    quiet: Quiet = False,
):
    """Run one federated method; print test accuracy, ‖∇f‖² and (private methods) the accountant's ε."""
    from .. import __version__
    from ..experiments.base import Result
    from ..federated.run import PRIVATE_METHODS, run_method

    t0 = time.perf_counter()
    with progress_bar(quiet) as bar:
        task = bar.add_task(f"federated {method}: rounds", total=rounds)
        res = run_method(method, clients=clients, rounds=rounds, epsilon=epsilon if method in PRIVATE_METHODS else None,
                         seed=seed, engine=engine, on_round=lambda r: bar.update(task, completed=r + 1))
    m = res["metrics"]
    private = "epsilon" in m
    held = all(v == v for v in m.values()) and (not private or m["epsilon"] <= epsilon * (1 + 1e-9))
    for k, v in m.items():
        typer.echo(f"  {k}  {v:.6g}")
    if out is not None:
        result = Result(
            name=f"federated-{method}", claim=f"{method} trained for {rounds} rounds on {clients} clients"
            + (f" at (ε={epsilon}, δ=1e-5)" if private else ""),
            held=bool(held), rule="finite metrics" + (" and accountant ε ≤ target" if private else ""),
            metrics={k: {"mean": float(v), "sem": 0.0, "n": 1} for k, v in m.items()},
            config={"method": method, "clients": clients, "rounds": rounds, "epsilon": epsilon, "engine": engine,
                    "seed": seed},
            seeds=[seed], seconds=time.perf_counter() - t0, figures=[], details=res["details"],
            datadiet_version=__version__)
        out.mkdir(parents=True, exist_ok=True)
        typer.echo(f"  result: {result.save(out)}")
