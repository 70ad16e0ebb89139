"""One federated run as the CLI sees it: method + sizes -> metrics (test_accuracy, grad_norm_sq, epsilon)."""

from __future__ import annotations

from ..errors import InputError
from .dp import DPConfig, run_diff2
from .hetero import METHODS as HETERO_METHODS
from .hetero import HeteroConfig, run_hetero
from .problems import make_problem

DP_METHODS = ("diff2", "dpgd")                 # the DIFF2 family (DP-GD is T = 1); Flower adapters exist
PRIVATE_METHODS = DP_METHODS + ("dpsgd",)       # dpsgd: Opacus DP-SGD baseline, in process only
METHODS = PRIVATE_METHODS + HETERO_METHODS
ENGINES = ("inprocess", "flower")


def run_method(method: str, *, clients: int = 10, rounds: int = 50, epsilon: float | None = 1.0,
               seed: int = 0, engine: str = "inprocess", problem: str = "logreg", dataset: str = "digits",
               on_round=None) -> dict:
    """Run ``method`` and return {"metrics": {...}, "details": {...}} (JSON-serializable)."""
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    if rounds < 1:
        raise InputError(f"--rounds must be >= 1 (got {rounds})")
    if clients < 1:
        raise InputError(f"--clients must be >= 1 (got {clients})")
    if epsilon is not None and not epsilon > 0:
        raise InputError(f"--epsilon must be > 0 (got {epsilon})")
    if method == "dpsgd":
        if engine != "inprocess":
            raise InputError("--method dpsgd runs with --engine inprocess only (Opacus keeps each client's "
                             "privacy accountant in process)")
        if epsilon is None:
            raise InputError("--method dpsgd needs --epsilon (DP-SGD without noise is plain SGD)")
        return _run_dpsgd(clients, rounds, epsilon, seed, problem, dataset, on_round)
    if engine == "flower":
        from .flower import run_flower

        out = run_flower(method, clients=clients, rounds=rounds, epsilon=epsilon, seed=seed, problem=problem,
                         dataset=dataset)
        if method not in DP_METHODS:
            out = _hetero_metrics_from_theta(method, clients, rounds, seed, out)
        return out
    if method in DP_METHODS:
        prob = make_problem(problem, dataset=dataset, n_clients=clients, seed=seed)
        cfg = dp_config(method, rounds, epsilon)
        out = run_diff2(prob, cfg, seed, on_round=on_round)
        metrics = {"test_accuracy": out.test_accuracy, "grad_norm_sq": out.grad_norm_sq[-1]}
        if out.epsilon is not None:
            metrics["epsilon"] = out.epsilon
        return {"metrics": metrics, "details": {"z": out.z, "grad_norm_sq_curve": out.grad_norm_sq,
                                                "dp_config": cfg.__dict__, "d": prob.d}}
    out = run_hetero(method, HeteroConfig(clients=clients, rounds=rounds), seed, on_round=on_round)
    out.pop("theta")
    return {"metrics": {"test_accuracy": out.pop("test_accuracy"), "grad_norm_sq": out.pop("grad_norm_sq")},
            "details": out}


def _run_dpsgd(clients: int, rounds: int, epsilon: float, seed: int, problem: str, dataset: str, on_round) -> dict:
    from .dpsgd import DPSGDConfig, run_dpsgd

    prob = make_problem(problem, dataset=dataset, n_clients=clients, seed=seed)
    cfg = DPSGDConfig(rounds=rounds, epsilon=epsilon)
    out = run_dpsgd(prob, cfg, seed, on_round=on_round)
    return {"metrics": {"test_accuracy": out.test_accuracy, "grad_norm_sq": out.grad_norm_sq[-1],
                        "epsilon": out.epsilon},
            "details": {"z": out.z, "sample_rate": out.sample_rate, "grad_norm_sq_curve": out.grad_norm_sq,
                        "dpsgd_config": cfg.__dict__, "accountant": "opacus rdp, add/remove-one", "d": prob.d}}


def dp_config(method: str, rounds: int, epsilon: float | None) -> DPConfig:
    """Defaults the experiment uses: DIFF2 T = 5, C1 = 1, C2 = 0.03 (best of a small sweep, see README); DP-GD T = 1, C = 1; η = 0.5, δ = 1e-5."""
    if method == "diff2":
        return DPConfig(rounds=rounds, lr=0.5, period=5, C1=1.0, C2=0.03, epsilon=epsilon)
    return DPConfig(rounds=rounds, lr=0.5, period=1, C1=1.0, C2=1.0, epsilon=epsilon)


def _hetero_metrics_from_theta(method: str, clients: int, rounds: int, seed: int, out: dict) -> dict:
    """Per-client accuracy and ‖∇f‖² of the common model a Flower run returned (server-side evaluation)."""
    import numpy as np
    import torch

    from . import hetero
    from . import submodel as sm

    theta = {k: torch.tensor(v) for k, v in out["details"]["theta"].items()}
    cfg = HeteroConfig(clients=clients, rounds=rounds)
    cl = hetero.make_clients(cfg, seed)
    specs = [hetero.client_spec(method, c) for c in cl]
    keep = hetero.local_keys(method)
    if keep:  # FedBN/FedPer keep parts on the clients; the server cannot evaluate those models
        return {"metrics": out["metrics"], "details": {"engine": "flower", "note": "local parameters stay on clients"}}
    local = [{} for _ in cl]
    accs = [hetero.accuracy(sm.slice_params(theta, s), s, c, method) for s, c in zip(specs, cl)]
    gsq = hetero.grad_norm_sq(method, theta, cl, specs, local, keep)
    return {"metrics": {"test_accuracy": float(np.mean(accs)), "grad_norm_sq": gsq},
            "details": {"engine": "flower", "client_accuracy": accs, "client_flops": [sm.flops(s) for s in specs]}}
