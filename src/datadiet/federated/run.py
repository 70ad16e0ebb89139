"""One federated run as the CLI sees it: method + sizes -> metrics (test_accuracy, grad_norm_sq, epsilon)."""

from __future__ import annotations

from ..errors import InputError
from .dp import NOISE_MODES, DPConfig, run_diff2
from .hetero import METHODS as HETERO_METHODS
from .hetero import HeteroConfig, run_hetero
from .problems import make_problem

DP_METHODS = ("diff2", "dpgd")                 # the DIFF2 family (DP-GD is T = 1); Flower adapters exist
PRIVATE_METHODS = DP_METHODS + ("dpsgd",)       # dpsgd: Opacus DP-SGD baseline, in process only
METHODS = PRIVATE_METHODS + HETERO_METHODS
ENGINES = ("inprocess", "flower")               # flower: `flwr run` on Flower's local simulation engine


def run_method(method: str, *, clients: int = 10, rounds: int = 50, epsilon: float | None = 1.0,
               seed: int = 0, engine: str = "inprocess", problem: str = "logreg", dataset: str = "digits",
               noise: str = "central", reproducible: bool = False, on_round=None, timeout: float = 900.0) -> dict:
    """Run ``method`` and return {"metrics": {...}, "details": {...}} (JSON-serializable).

    ``noise``: central (one Gaussian on the aggregate, the paper's setting) or local (each client's message
    private on its own); ``reproducible``: seeded noise (repeatable, NOT private).
    """
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
    if noise not in NOISE_MODES:
        raise InputError(f"--noise must be one of {', '.join(NOISE_MODES)} (got {noise!r})")
    if method == "dpsgd":
        if engine != "inprocess":
            raise InputError("--method dpsgd runs with --engine inprocess only (Opacus keeps each client's "
                             "privacy accountant in process)")
        if epsilon is None:
            raise InputError("--method dpsgd needs --epsilon (DP-SGD without noise is plain SGD)")
        return _run_dpsgd(clients, rounds, epsilon, seed, problem, dataset, on_round)
    if engine == "flower":
        from .deploy import run_local_simulation

        return run_local_simulation(method, clients=clients, rounds=rounds, epsilon=epsilon, seed=seed,
                                    noise=noise, reproducible=reproducible, problem=problem, dataset=dataset,
                                    timeout=timeout)
    if method in DP_METHODS:
        prob = make_problem(problem, dataset=dataset, n_clients=clients, seed=seed)
        cfg = dp_config(method, rounds, epsilon, noise=noise, reproducible=reproducible)
        out = run_diff2(prob, cfg, seed, on_round=on_round)
        metrics = {"test_accuracy": out.test_metric, "grad_norm_sq": out.grad_norm_sq[-1]}
        if out.epsilon is not None:
            metrics["epsilon"] = out.epsilon
        return {"metrics": metrics, "details": {"z1": out.z1, "z2": out.z2, "grad_norm_sq_curve": out.grad_norm_sq,
                                                "clipped_diff_fraction": out.clipped_diff_fraction,
                                                "dp_config": cfg.__dict__, "d": prob.d, "x": out.x.tolist()}}
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


def dp_config(method: str, rounds: int, epsilon: float | None, *, noise: str = "central",
              reproducible: bool = False) -> DPConfig:
    """The CLI's settings: DIFF2 T = max(2, ⌊0.1·R⌋), C1 = 1, c2 = 10 (relative clip c2·‖x_r − x_{r−1}‖);
    DP-GD T = 1, C1 = 1; η = 0.5, δ = 1e-5 (diff2-utility tunes these per setting instead)."""
    if method == "diff2":
        return DPConfig(rounds=rounds, lr=0.5, period=max(2, rounds // 10), C1=1.0, c2=10.0, epsilon=epsilon,
                        noise=noise, reproducible=reproducible)
    return DPConfig(rounds=rounds, lr=0.5, period=1, C1=1.0, c2=None, epsilon=epsilon, noise=noise,
                    reproducible=reproducible)
