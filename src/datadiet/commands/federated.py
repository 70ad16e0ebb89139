"""`datadiet federated run`: DIFF2 / DP-GD with an accountant, sub-model FL and its peers (issues 8, 19)."""

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
    method: Annotated[str, typer.Option("--method", help="diff2|dpgd|dpsgd|scalablefl|heterofl|fedavg|fedavg-native|fedbn|fedper.")],
    clients: Annotated[int, typer.Option("--clients", help="Number of clients P.")] = 10,
    rounds: Annotated[int, typer.Option("--rounds", help="Communication rounds R.")] = 50,
    epsilon: Annotated[Optional[float], typer.Option("--epsilon", help="Target ε (δ = 1e-5) for diff2/dpgd/dpsgd; "
                                                     "ignored by the non-private methods.")] = 1.0,
    engine: Annotated[str, typer.Option("--engine", help="inprocess, or flower: `flwr run` on Flower's local "
                                        "simulation engine (one simulated SuperNode per client).")] = "inprocess",
    noise: Annotated[str, typer.Option("--noise", help="diff2/dpgd: central (one Gaussian on the aggregate, as "
                                       "under secure aggregation; the paper's setting) or local (each client's "
                                       "message private on its own; sqrt(P) more noise).")] = "central",
    reproducible: Annotated[bool, typer.Option("--reproducible", help="Draw DP noise from --seed so runs repeat "
                                               "bit for bit. NOT private: anyone with the seed can remove the "
                                               "noise. Default: OS entropy on each client.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the data split and initialization (and of the "
                                      "noise with --reproducible).")] = 0,
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
                         seed=seed, engine=engine, noise=noise, reproducible=reproducible,
                         on_round=lambda r: bar.update(task, completed=r + 1))
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
                    "seed": seed, "noise": noise, "reproducible": reproducible},
            seeds=[seed], seconds=time.perf_counter() - t0, figures=[], details=res["details"],
            datadiet_version=__version__)
        out.mkdir(parents=True, exist_ok=True)
        typer.echo(f"  result: {result.save(out)}")
