"""Thin Flower (flwr ≥ 1.20 Message API) adapters over the plain functions: Strategy, ClientApp, ServerApp.

The same ``client_app`` runs in Flower's simulation (``run_flower`` below: Ray bound to 127.0.0.1) and on a
real federation (``flwr run`` against a SuperLink with SuperNodes, each started with
``--node-config "partition-id=P num-partitions=N"``). Clients rebuild their own data from the run's
seed and their partition id; only messages (DIFF2's noisy clipped gradients / differences, or trained
sub-model parameters) leave a client. Needs ``pip install 'datadiet[federated]'``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time

import torch

from ..errors import InputError, MissingDependencyError

try:
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.common import log as flwr_log  # Flower's logger: its lines reach `flwr log` / `flwr run --stream`
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import Strategy
except ImportError:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("flwr", "federated", "the Flower engine") from None

from . import dp as dpmod
from . import hetero
from . import submodel as sm
from .problems import make_problem

DP_METHODS = ("diff2", "dpgd")


# ----------------------------------------------------------------------------------------------- client side
@functools.lru_cache(maxsize=4)
def _problem(spec_json: str):
    s = json.loads(spec_json)
    return make_problem(s["problem"], dataset=s["dataset"], n_clients=s["clients"], seed=s["seed"])


@functools.lru_cache(maxsize=4)
def _image_clients(cfg_json: str, seed: int):
    return hetero.make_clients(hetero.HeteroConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                     for k, v in json.loads(cfg_json).items()}), seed)


client_app = ClientApp()


@client_app.train()
def _train(msg: Message, context: Context) -> Message:
    pid = int(context.node_config["partition-id"])
    cfg = msg.content["config"]
    method = str(cfg["method"])
    if method in DP_METHODS:
        prob = _problem(str(cfg["problem_spec"]))
        arrays = {k: torch.as_tensor(v.numpy()) for k, v in msg.content["arrays"].items()}
        full = bool(cfg["full"])
        m = dpmod.client_message(prob, prob.clients[pid], arrays["x"], None if full else arrays["x_prev"],
                                 float(cfg["C"]), float(cfg["z"]),
                                 dpmod.round_generator(int(cfg["seed"]), pid, int(cfg["round"])))
        content = RecordDict({"arrays": ArrayRecord({"m": m}),
                              "metrics": MetricRecord({"pid": pid, "num-examples": len(prob.clients[pid].y)})})
        return Message(content=content, reply_to=msg)
    # sub-model methods: the client keeps FedBN/FedPer's local parameters in its node state
    client = _image_clients(str(cfg["hetero_config"]), int(cfg["seed"]))[pid]
    theta = {k: torch.as_tensor(v.numpy()) for k, v in msg.content["arrays"].items()}
    keep = hetero.local_keys(method)
    if keep and "local" in context.state:
        local = {k: torch.as_tensor(v.numpy()) for k, v in context.state["local"].items()}
    else:
        spec = hetero.client_spec(method, client)
        local = {k: v for k, v in sm.slice_params(theta, spec).items() if k in keep}
    hc = hetero.HeteroConfig(**{k: tuple(v) if isinstance(v, list) else v
                                for k, v in json.loads(str(cfg["hetero_config"])).items()})
    new = hetero.client_round(method, theta, local, client, hc, int(cfg["seed"]), pid, int(cfg["round"]))
    if keep:
        context.state["local"] = ArrayRecord({k: new[k].contiguous() for k in keep})
    content = RecordDict({"arrays": ArrayRecord({k: v.contiguous() for k, v in new.items()}),
                          "metrics": MetricRecord({"pid": pid, "num-examples": len(client.y)})})
    return Message(content=content, reply_to=msg)


# ----------------------------------------------------------------------------------------------- server side
class FederatedStrategy(Strategy):
    """DIFF2/DP-GD (server keeps x_r, x_{r−1}, v_r) or sub-model aggregation, as a Flower Strategy."""

    def __init__(self, method: str, config: dict, state: dict, *, clients: int, connect_timeout: float = 300.0):
        self.method, self.config, self.state = method, config, state
        self.clients, self.connect_timeout = clients, connect_timeout
        self.history: list[dict] = []

    def _wait_for_nodes(self, grid) -> list[int]:
        # Every algorithm here needs all N clients each round. In simulation the SuperNodes register a moment
        # after the ServerApp starts (seen on a 2-core CI runner), so poll as Flower's own strategies do.
        deadline = time.monotonic() + self.connect_timeout
        while len(nodes := sorted(grid.get_node_ids())) < self.clients:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(nodes)} of {self.clients} Flower clients connected within "
                                   f"{self.connect_timeout:.0f} s; start one SuperNode per partition")
            time.sleep(0.2)
        return nodes

    def configure_train(self, server_round, arrays, config, grid):
        r = server_round - 1
        cfg = dict(self.config, round=r)
        if self.method in DP_METHODS:
            full = r % cfg["period"] == 0
            cfg.update(full=full, C=cfg["C1"] if full else cfg["C2"], z=cfg["z1"] if full else cfg["z"])
            x_prev = self.state["x_prev"] if self.state["x_prev"] is not None else self.state["x"]
            arrays = ArrayRecord({"x": self.state["x"], "x_prev": x_prev})
        else:
            arrays = ArrayRecord({k: v.contiguous() for k, v in self.state["theta"].items()})
        content = RecordDict({"arrays": arrays, "config": ConfigRecord(
            {k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))})})
        return [Message(content=content, dst_node_id=n, message_type=MessageType.TRAIN)
                for n in self._wait_for_nodes(grid)]

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        if not replies:
            raise RuntimeError(f"round {server_round}: no Flower client replied")
        for rep in replies:
            if rep.has_error():
                raise RuntimeError(f"a Flower client failed: {rep.error}")
        replies.sort(key=lambda m: int(m.content["metrics"]["pid"]))
        if self.method in DP_METHODS:
            msgs = [torch.as_tensor(m.content["arrays"]["m"].numpy()) for m in replies]
            r = server_round - 1
            x = self.state["x"]
            x_next, v = dpmod.server_step(x, self.state["v"], msgs, r % self.config["period"] == 0,
                                          self.config["lr"])
            self.state.update(x_prev=x, x=x_next, v=v)
            return ArrayRecord({"x": x_next}), MetricRecord({"round": server_round})
        clients = self.state["clients"]
        updates, weights = [], []
        for m in replies:
            pid = int(m.content["metrics"]["pid"])
            local = {k: torch.as_tensor(v.numpy()) for k, v in m.content["arrays"].items()}
            updates.append((local, hetero.client_spec(self.method, clients[pid])))
            weights.append(float(m.content["metrics"]["num-examples"]))
        self.state["theta"] = sm.aggregate(self.state["theta"], updates, weights=weights,
                                           skip=hetero.local_keys(self.method))
        return None, MetricRecord({"round": server_round})

    def configure_evaluate(self, server_round, arrays, config, grid):
        return []

    def aggregate_evaluate(self, server_round, replies):
        return None

    def summary(self) -> None:
        pass


def make_server_app(strategy: FederatedStrategy, rounds: int) -> ServerApp:
    app = ServerApp()

    @app.main()
    def _main(grid: Grid, context: Context) -> None:
        strategy.start(grid=grid, initial_arrays=ArrayRecord(), num_rounds=rounds, timeout=600)

    return app


def build_strategy(method: str, *, clients: int, rounds: int, epsilon: float | None, seed: int = 0,
                   problem: str = "logreg", dataset: str = "digits") -> FederatedStrategy:
    """The server's strategy for ``method``: DP noise calibrated by the accountant, or the common model θ."""
    if method in DP_METHODS:
        from .run import dp_config

        cfg = dp_config(method, rounds, epsilon)
        z, z1, eps = dpmod.noise_multipliers(cfg)
        prob = make_problem(problem, dataset=dataset, n_clients=clients, seed=seed)
        spec = json.dumps({"problem": problem, "dataset": dataset, "clients": clients, "seed": seed}, sort_keys=True)
        config = {"method": method, "problem_spec": spec, "seed": seed, "period": cfg.period, "lr": cfg.lr,
                  "C1": cfg.C1, "C2": cfg.C2, "z": z, "z1": z1}
        state = {"x": prob.init(seed), "x_prev": None, "v": None, "problem": prob, "epsilon": eps}
    elif method in hetero.METHODS:
        hc = hetero.HeteroConfig(clients=clients, rounds=rounds)
        hcj = json.dumps(hc.__dict__, sort_keys=True)
        config = {"method": method, "hetero_config": hcj, "seed": seed}
        torch.manual_seed(seed)
        state = {"theta": sm.init_params(seed), "clients": hetero.make_clients(hc, seed)}
    else:
        raise InputError(f"--method must be one of {', '.join(DP_METHODS + hetero.METHODS)} (got {method!r})")
    return FederatedStrategy(method, config, state, clients=clients)


# For a real federation (`flwr run`): the run config names the method and sizes (examples/flower-federation).
server_app = ServerApp()


@server_app.main()
def _server_main(grid: Grid, context: Context) -> None:
    rc = context.run_config
    method, clients, rounds = str(rc.get("method", "diff2")), int(rc["clients"]), int(rc["num-server-rounds"])
    eps = float(rc.get("epsilon", 1.0))
    strategy = build_strategy(method, clients=clients, rounds=rounds, epsilon=eps if eps > 0 else None,
                              seed=int(rc.get("seed", 0)))
    strategy.start(grid=grid, initial_arrays=ArrayRecord(), num_rounds=rounds, timeout=3600)
    result = _result(strategy)
    result["details"]["run_config"] = dict(rc)
    flwr_log(logging.INFO, "datadiet %s: %s", method, json.dumps(result["metrics"], sort_keys=True))
    if out := str(rc.get("out", "")):
        _write_result(result, out)


def _write_result(result: dict, out: str) -> None:
    """Write the run's result JSON atomically, so a launcher polling for ``out`` never reads half a file."""
    from ..io import write_json

    write_json(result, out)
    flwr_log(logging.INFO, "datadiet result written to %s", os.path.abspath(out))


def _result(strategy: FederatedStrategy) -> dict:
    """The outcome held in the server's final state: metrics for DIFF2/DP-GD, the common model θ otherwise."""
    state = strategy.state
    if strategy.method in DP_METHODS:
        if state.get("v") is None:
            raise RuntimeError("the Flower run ended before the first round completed")
        x, prob, eps, z = state["x"], state["problem"], state["epsilon"], strategy.config["z"]
        gf = prob.full_grad(x)
        metrics = {"test_accuracy": prob.test_accuracy(x), "grad_norm_sq": float(gf @ gf)}
        if eps is not None:
            metrics["epsilon"] = eps
        return {"metrics": metrics, "details": {"z": z, "engine": "flower", "x": x.tolist()}}
    theta = state["theta"]
    return {"metrics": {"theta_norm": float(math.sqrt(sum(float((v * v).sum()) for v in theta.values())))},
            "details": {"engine": "flower", "theta": {k: v.tolist() for k, v in theta.items()}}}


def run_flower(method: str, *, clients: int, rounds: int, epsilon: float | None, seed: int = 0,
               problem: str = "logreg", dataset: str = "digits", num_cpus: int = 2) -> dict:
    """Run ``method`` in Flower's simulation (Ray on 127.0.0.1) and return the same dict as ``run_method``."""
    from flwr.simulation import run_simulation

    strategy = build_strategy(method, clients=clients, rounds=rounds, epsilon=epsilon, seed=seed, problem=problem,
                              dataset=dataset)
    backend = {"init_args": {"_node_ip_address": "127.0.0.1", "num_cpus": num_cpus, "include_dashboard": False,
                             "log_to_driver": False},
               "client_resources": {"num_cpus": 1, "num_gpus": 0.0}}
    run_simulation(server_app=make_server_app(strategy, rounds), client_app=client_app, num_supernodes=clients,
                   backend_config=backend)
    return _result(strategy)
