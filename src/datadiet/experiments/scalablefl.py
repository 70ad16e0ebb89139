"""scalablefl: sub-model FL for clients with different image sizes and label sets (Nitta, Suzuki et al., ICMLA 2023).

Clients hold scikit-learn digits at 8, 16 or 32 px (upsampled from 8x8) and 10 or 5 of the labels.
ScalableFL cuts each client's sub-model from one common CNN (depth from resolution, width from the
number of labels, head rows = its labels); baselines FedAvg (common 32 px input, full model), HeteroFL
(width slicing only), FedBN (local batch norm), FedPer (local head). Measured per client: test accuracy
(predicting among the client's labels) and forward multiply-accumulates.

Rerun:
    datadiet reproduce scalablefl --seeds 3 --out results/scalablefl
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Verdict, pyplot, summarize

NAME = "scalablefl"
CLAIM = ("Sub-models cut by input size and label count (ScalableFL) keep per-client accuracy within 0.05 of "
         "FedAvg/HeteroFL/FedBN/FedPer on a common resized input while spending fewer FLOPs per client.")
METHODS = ("scalablefl", "heterofl", "fedavg", "fedbn", "fedper")


@dataclass(frozen=True)
class Config:
    clients: int = 6
    rounds: int = 15
    local_epochs: int = 1
    lr: float = 0.05
    methods: tuple[str, ...] = METHODS


QUICK = Config(clients=3, rounds=2)


def run(config: Config, seed: int) -> dict:
    from ..federated.hetero import HeteroConfig, run_hetero

    hc = HeteroConfig(clients=config.clients, rounds=config.rounds, local_epochs=config.local_epochs, lr=config.lr)
    out = {}
    for m in config.methods:
        r = run_hetero(m, hc, seed)
        r.pop("theta")
        out[m] = r
    return out


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics: dict[str, dict] = {}
    for m in config.methods:
        metrics[f"{m}_test_accuracy"] = summarize([r[m]["test_accuracy"] for r in runs])
        metrics[f"{m}_mean_client_flops"] = summarize([float(np.mean(r[m]["client_flops"])) for r in runs])
        for p in range(config.clients):
            metrics[f"{m}_client{p}_accuracy"] = summarize([r[m]["client_accuracy"][p] for r in runs])
    s = metrics["scalablefl_test_accuracy"]["mean"]
    others = [m for m in config.methods if m != "scalablefl"]
    best = max(metrics[f"{m}_test_accuracy"]["mean"] for m in others)
    cheaper = all(metrics["scalablefl_mean_client_flops"]["mean"] < metrics[f"{m}_mean_client_flops"]["mean"]
                  for m in others)
    held = s >= best - 0.05 and cheaper
    rule = (f"acc(ScalableFL) {s:.3f} ≥ best baseline {best:.3f} − 0.05 [{s >= best - 0.05}] and mean FLOPs "
            f"lower than every baseline [{cheaper}]")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for m in config.methods:
        ax.errorbar(metrics[f"{m}_mean_client_flops"]["mean"], metrics[f"{m}_test_accuracy"]["mean"],
                    yerr=metrics[f"{m}_test_accuracy"]["sem"], fmt="o", label=m)
    ax.set_xscale("log")
    ax.set_xlabel("mean forward MACs per client")
    ax.set_ylabel("mean client test accuracy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(Path(out_dir) / "federated_scalablefl.png", dpi=80)
    plt.close(fig)
    details = {m: {"client_resolution": runs[0][m]["client_resolution"], "client_labels": runs[0][m]["client_labels"],
                   "client_flops": runs[0][m]["client_flops"]} for m in config.methods}
    return Verdict(held, rule, metrics, ["federated_scalablefl.png"], details)
