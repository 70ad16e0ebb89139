"""datadiet's methods as a Flower App (flwr ≥ 1.41 Message API): ``server_app``, ``client_app``, a Strategy.

Run it as Flower users do — ``flwr run examples/flower-federation`` on the local simulation engine, or against
a SuperLink with SuperNodes (``deploy.py``). The run config (``[tool.flwr.app.config]``) names the method and
the federation size ``clients``; the federation must have that many SuperNodes (simulation:
``--federation-config "num-supernodes=N"``), else the ServerApp stops with one line saying so.

What travels: the model, as an ArrayRecord — ``initial_arrays`` from the ServerApp, back in ``Result.arrays``
(DIFF2/DP-GD: x_r, x_{r−1} and v_{r−1}; sub-model methods: the common model θ). Each client rebuilds only its
own shard (from the seed and its ``partition-id``); it sends DIFF2's clipped mean plus its own Gaussian, drawn
from OS entropy on the client (the server sends no seed unless the run is ``reproducible``, which is not
private), or its trained sub-model. Evaluation runs on the clients after the last round (test accuracy on the
client's test shard, and for DIFF2 the local gradient — a non-private diagnostic from which the server forms
‖∇f‖²). Needs ``pip install 'datadiet[federated]'`` in the environment that runs Flower.
"""

from __future__ import annotations

import functools
import json
import logging
import math
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
from .problems import initial_params, make_problem

DP_METHODS = ("diff2", "dpgd")
DEFAULTS = {"method": "diff2", "num-server-rounds": 50, "clients": 10, "epsilon": 1.0, "seed": 0,
            "noise": "central", "reproducible": False, "problem": "logreg", "dataset": "digits",
            "connect-timeout": 60.0, "out": ""}


def _t(record) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v.numpy()) for k, v in record.items()}


# ----------------------------------------------------------------------------------------------- client side
@functools.lru_cache(maxsize=4)
def _problem(problem: str, dataset: str, clients: int, seed: int):
    return make_problem(problem, dataset=dataset, n_clients=clients, seed=seed)


@functools.lru_cache(maxsize=4)
def _image_clients(clients: int, rounds: int, seed: int):
    return hetero.make_clients(hetero.HeteroConfig(clients=clients, rounds=rounds), seed)


def _partition(context: Context, cfg) -> tuple[int, int]:
    pid, parts = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    if parts != int(cfg["clients"]):
        raise RuntimeError(f"this SuperNode has num-partitions={parts} but the run config says clients="
                           f"{int(cfg['clients'])}; start one SuperNode per client with matching num-partitions")
    return pid, parts


def _received(msg: Message, context: Context):
    """(run config, method, this client's partition id, number of clients, the arrays sent)."""
    cfg = msg.content["config"]
    pid, P = _partition(context, cfg)
    return cfg, str(cfg["method"]), pid, P, _t(msg.content["arrays"])


def _dp_problem(cfg, P: int):
    return _problem(str(cfg["problem"]), str(cfg["dataset"]), P, int(cfg["data-seed"]))


client_app = ClientApp()


@client_app.train()
def _train(msg: Message, context: Context) -> Message:
    cfg, method, pid, P, arrays = _received(msg, context)
    if method in DP_METHODS:
        prob = _dp_problem(cfg, P)
        data = prob.clients[pid]
        full, C, z = bool(cfg["full"]), float(cfg["C"]), float(cfg["z"])
        std = dpmod.noise_std(z, C, len(data.y), P, str(cfg["noise"]))
        seed = int(cfg["noise-seed"]) if bool(cfg["reproducible"]) else None   # None: OS entropy, here
        m = dpmod.client_message(prob, data, arrays["x"], None if full else arrays["x_prev"], C, std,
                                 client=pid, n_clients=P, r=int(cfg["round"]), seed=seed)
        content = RecordDict({"arrays": ArrayRecord({"m": m}),
                              "metrics": MetricRecord({"pid": pid, "num-examples": len(data.y)})})
        return Message(content=content, reply_to=msg)
    client = _image_clients(P, int(cfg["rounds"]), int(cfg["data-seed"]))[pid]
    spec = hetero.client_spec(method, client)
    keep = hetero.local_keys(method)
    local = _t(context.state["local"]) if keep and "local" in context.state else \
        {k: v for k, v in sm.slice_params(arrays, spec).items() if k in keep}
    hc = hetero.HeteroConfig(clients=P, rounds=int(cfg["rounds"]))
    new = hetero.client_round(method, arrays, local, client, hc, int(cfg["data-seed"]), pid, int(cfg["round"]))
    if keep:
        context.state["local"] = ArrayRecord({k: new[k].contiguous() for k in keep})
    content = RecordDict({"arrays": ArrayRecord({k: v.contiguous() for k, v in new.items()}),
                          "metrics": MetricRecord({"pid": pid, "num-examples": len(client.y)}),
                          "spec": ConfigRecord({"entry": spec.entry, "rate": spec.rate,
                                                "labels": ",".join(map(str, spec.labels))})})
    return Message(content=content, reply_to=msg)


@client_app.evaluate()
def _evaluate(msg: Message, context: Context) -> Message:
    cfg, method, pid, P, arrays = _received(msg, context)
    if method in DP_METHODS:
        prob = _dp_problem(cfg, P)
        x = arrays["x"]
        Xt, yt = prob.X_test[pid::P], prob.y_test[pid::P]     # this client's share of the test set
        correct = int((prob.logits(x, Xt).argmax(1) == yt).sum())
        g = prob.per_sample_grads(x, prob.clients[pid]).mean(0)  # diagnostic for ‖∇f‖² (not private)
        content = RecordDict({"arrays": ArrayRecord({"grad": g}),
                              "metrics": MetricRecord({"pid": pid, "correct": correct, "num-test": len(yt),
                                                       "num-examples": len(prob.clients[pid].y)})})
        return Message(content=content, reply_to=msg)
    client = _image_clients(P, int(cfg["rounds"]), int(cfg["data-seed"]))[pid]
    spec = hetero.client_spec(method, client)
    params = sm.slice_params(arrays, spec)
    if hetero.local_keys(method) and "local" in context.state:
        params.update(_t(context.state["local"]))          # FedBN's batch norm, FedPer's head: the client's own
    acc = hetero.evaluate_client(method, params, spec, client)
    content = RecordDict({"metrics": MetricRecord({"pid": pid, "accuracy": acc, "num-test": len(client.y_test),
                                                   "macs": sm.flops(spec)})})
    return Message(content=content, reply_to=msg)


# ----------------------------------------------------------------------------------------------- server side
class FederatedStrategy(Strategy):
    """DIFF2/DP-GD (x_r, x_{r−1}, v_{r−1} travel in the ArrayRecord) or sub-model aggregation of θ."""

    def __init__(self, method: str, config: dict, dp_config: dpmod.DPConfig | None = None, *, clients: int,
                 num_rounds: int, connect_timeout: float = 60.0):
        self.method, self.config, self.dp = method, config, dp_config
        self.clients, self.num_rounds, self.connect_timeout = clients, num_rounds, connect_timeout
        self.z1, self.z2, self.epsilon = dpmod.noise_multipliers(dp_config) if dp_config else (0.0, 0.0, None)
        self._sent: dict[str, torch.Tensor] = {}
        self.final: dict = {}

    def _nodes(self, grid) -> list[int]:
        # every algorithm here needs all N clients each round; SuperNodes may register a moment after start
        deadline = time.monotonic() + self.connect_timeout
        while len(nodes := sorted(grid.get_node_ids())) < self.clients:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the federation has {len(nodes)} SuperNodes but the run config says clients={self.clients}: "
                    f"start {self.clients} (simulation: flwr run ... --federation-config 'num-supernodes="
                    f"{self.clients}') or pass --run-config 'clients={len(nodes)}'")
            time.sleep(0.2)
        return nodes[: self.clients]

    def _config(self, server_round: int, **extra) -> ConfigRecord:
        cfg = dict(self.config, round=server_round - 1, **extra)
        return ConfigRecord({k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))})

    def configure_train(self, server_round, arrays, config, grid):
        a = _t(arrays)
        if self.method in DP_METHODS:
            r = server_round - 1
            x = a["x"]
            x_prev = a.get("x_prev", x)
            full, C, _ = dpmod.round_plan(self.dp, r, x, x_prev, 1, 1, self.z1, self.z2)
            self._sent = {"x": x, "x_prev": x_prev, **({"v": a["v"]} if "v" in a else {})}
            out = ArrayRecord({"x": x, "x_prev": x_prev})
            cfgrec = self._config(server_round, full=full, C=C, z=self.z1 if full else self.z2)
        else:
            out, cfgrec = arrays, self._config(server_round)
            self._sent = a
        content = RecordDict({"arrays": out, "config": cfgrec})
        return [Message(content=content, dst_node_id=n, message_type=MessageType.TRAIN) for n in self._nodes(grid)]

    def aggregate_train(self, server_round, replies):
        replies = self._ok(server_round, replies)
        if self.method in DP_METHODS:
            msgs = [_t(m.content["arrays"])["m"] for m in replies]
            r = server_round - 1
            full = r % self.dp.period == 0
            x = self._sent["x"]
            x_next, v = dpmod.server_step(x, self._sent.get("v"), msgs, full, self.dp.lr)
            return ArrayRecord({"x": x_next, "x_prev": x, "v": v}), MetricRecord({"round": server_round})
        updates, weights = [], []
        for m in replies:
            s = m.content["spec"]
            labels = tuple(int(c) for c in str(s["labels"]).split(","))
            spec = sm.ClientSpec(int(s["entry"]), float(s["rate"]), labels)
            updates.append((_t(m.content["arrays"]), spec))
            weights.append(float(m.content["metrics"]["num-examples"]))
        theta = sm.aggregate(self._sent, updates, weights=weights, skip=hetero.local_keys(self.method))
        return ArrayRecord({k: v.contiguous() for k, v in theta.items()}), MetricRecord({"round": server_round})

    def configure_evaluate(self, server_round, arrays, config, grid):
        if server_round != self.num_rounds:
            return []
        content = RecordDict({"arrays": arrays, "config": self._config(server_round)})
        return [Message(content=content, dst_node_id=n, message_type=MessageType.EVALUATE)
                for n in self._nodes(grid)]

    def aggregate_evaluate(self, server_round, replies):
        if server_round != self.num_rounds:
            return None  # clients evaluate the final model only
        replies = self._ok(server_round, replies)
        met = [m.content["metrics"] for m in replies]
        if self.method in DP_METHODS:
            n = [float(x["num-examples"]) for x in met]
            g = sum(w * _t(m.content["arrays"])["grad"] for w, m in zip(n, replies)) / sum(n)
            out = {"test_accuracy": sum(int(x["correct"]) for x in met) / sum(int(x["num-test"]) for x in met),
                   "grad_norm_sq": float(g @ g)}
            if self.epsilon is not None:
                out["epsilon"] = self.epsilon
        else:
            accs = [float(x["accuracy"]) for x in met]
            out = {"test_accuracy": sum(accs) / len(accs)}
            self.final["client_accuracy"] = accs
            self.final["client_flops"] = [int(x["macs"]) for x in met]
        self.final["metrics"] = out
        return MetricRecord(out)

    def _ok(self, server_round, replies):
        replies = list(replies)
        if not replies:
            raise RuntimeError(f"round {server_round}: no Flower client replied")
        for rep in replies:
            if rep.has_error():
                raise RuntimeError(f"a Flower client failed: {rep.error}")
        return sorted(replies, key=lambda m: int(m.content["metrics"]["pid"]))

    def summary(self) -> None:
        pass


def build_strategy(rc: dict) -> tuple[FederatedStrategy, ArrayRecord]:
    """The strategy and the initial model for run config ``rc`` (keys as in ``DEFAULTS``); no client data."""
    rc = {**DEFAULTS, **dict(rc)}
    method, clients, rounds, seed = str(rc["method"]), int(rc["clients"]), int(rc["num-server-rounds"]), int(rc["seed"])
    if clients < 1 or rounds < 1:
        raise InputError(f"run config: clients and num-server-rounds must be >= 1 (got {clients}, {rounds})")
    base = {"method": method, "clients": clients, "rounds": rounds, "data-seed": seed}
    if method in DP_METHODS:
        from .run import dp_config

        eps = float(rc["epsilon"])
        cfg = dp_config(method, rounds, eps if eps > 0 else None, noise=str(rc["noise"]),
                        reproducible=bool(rc["reproducible"]))
        base.update(problem=str(rc["problem"]), dataset=str(rc["dataset"]), noise=cfg.noise,
                    reproducible=cfg.reproducible, **({"noise-seed": seed} if cfg.reproducible else {}))
        x0 = initial_params(str(rc["problem"]), str(rc["dataset"]), seed)
        strat = FederatedStrategy(method, base, cfg, clients=clients, num_rounds=rounds,
                                  connect_timeout=float(rc["connect-timeout"]))
        return strat, ArrayRecord({"x": x0})
    if method not in hetero.METHODS:
        raise InputError(f"run config: method must be one of {', '.join(DP_METHODS + hetero.METHODS)} "
                         f"(got {method!r})")
    torch.manual_seed(seed)
    theta = sm.init_params(seed)
    strat = FederatedStrategy(method, base, clients=clients, num_rounds=rounds,
                              connect_timeout=float(rc["connect-timeout"]))
    return strat, ArrayRecord({k: v.contiguous() for k, v in theta.items()})


server_app = ServerApp()


@server_app.main()
def _server_main(grid: Grid, context: Context) -> None:
    rc = {**DEFAULTS, **dict(context.run_config)}
    strategy, initial = build_strategy(rc)
    result = strategy.start(grid=grid, initial_arrays=initial, num_rounds=int(rc["num-server-rounds"]),
                            timeout=3600)
    out = summarize(strategy, result, rc)
    flwr_log(logging.INFO, "datadiet %s: %s", rc["method"], json.dumps(out["metrics"], sort_keys=True))
    if path := str(rc.get("out", "")):
        from ..io import write_json

        write_json(out, path)
        flwr_log(logging.INFO, "datadiet result written to %s", path)


def summarize(strategy: FederatedStrategy, result, rc: dict) -> dict:
    """The run's outcome: client-side evaluation metrics and the final model from ``Result.arrays``."""
    if "metrics" not in strategy.final:
        raise RuntimeError("the Flower run ended before the clients evaluated the final model")
    arrays = {k: v.tolist() for k, v in _t(result.arrays).items()}
    details = {"engine": "flower", "run_config": {k: rc[k] for k in sorted(rc)}, "arrays": arrays}
    if strategy.method in DP_METHODS:
        details.update(z1=strategy.z1, z2=strategy.z2, dp_config=strategy.dp.__dict__)
    else:
        details.update({k: v for k, v in strategy.final.items() if k != "metrics"})
    return {"metrics": strategy.final["metrics"], "details": details}


def theta_norm(arrays: dict) -> float:
    return math.sqrt(sum(float((torch.tensor(v) ** 2).sum()) for v in arrays.values()))
