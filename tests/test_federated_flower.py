"""Flower as its users run it: `flwr run examples/flower-federation` on the local simulation engine.

One real run (3 simulated SuperNodes, 2 rounds; about 30 s on two cores, mostly Flower's and Ray's start-up)
reproduces the in-process engine bit for bit in reproducible mode, with the model coming back in
``Result.arrays`` and the metrics computed by the clients. The rest checks the strategy without Flower's runtime.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("flwr")
pytest.importorskip("ray")
pytest.importorskip("dp_accounting")


def test_flwr_run_on_the_local_simulation_matches_inprocess(tmp_path):
    from datadiet.federated.deploy import launched_pids, run_local_simulation
    from datadiet.federated.run import run_method

    try:
        a = run_local_simulation("diff2", clients=3, rounds=2, epsilon=1.0, seed=0, reproducible=True,
                                 timeout=400, workdir=tmp_path)
    finally:
        left = launched_pids(tmp_path / "flwr-home")  # the local SuperLink Flower started, and its children
    assert left == []
    b = run_method("diff2", clients=3, rounds=2, epsilon=1.0, seed=0, reproducible=True)
    for k in ("test_accuracy", "grad_norm_sq", "epsilon"):
        assert a["metrics"][k] == pytest.approx(b["metrics"][k], rel=1e-9, abs=1e-12)
    # the final model travelled back as Result.arrays
    torch.testing.assert_close(torch.tensor(a["details"]["arrays"]["x"]), torch.tensor(b["details"]["x"]),
                               rtol=1e-10, atol=1e-12)
    rc = a["details"]["run_config"]
    assert (rc["method"], rc["clients"], rc["num-server-rounds"], rc["reproducible"]) == ("diff2", 3, 2, True)


@pytest.fixture
def in_a_run(monkeypatch):
    """flwr >= 1.42 builds Messages only inside a run: give this process a run id, as a ServerApp has."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 0)  # the ServerApp side
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


class _Grid:
    """A grid whose nodes register only after a few polls, as SuperNodes do on a slow runner."""

    def __init__(self, after: int, n: int):
        self.calls, self.after, self.n = 0, after, n

    def get_node_ids(self):
        self.calls += 1
        return list(range(10, 10 + self.n)) if self.calls > self.after else []


def test_strategy_waits_for_the_run_configs_federation_size_and_names_a_mismatch(in_a_run):
    from datadiet.federated.flower import build_strategy

    s, init = build_strategy({"method": "fedavg", "clients": 3, "num-server-rounds": 1})
    grid = _Grid(after=3, n=3)
    msgs = s.configure_train(1, init, None, grid)
    assert grid.calls == 4 and sorted(m.metadata.dst_node_id for m in msgs) == [10, 11, 12]
    s.connect_timeout = 0.0
    with pytest.raises(RuntimeError, match=r"federation has 2 SuperNodes but the run config says clients=3.*"
                                           r"num-supernodes=3"):
        s.configure_train(1, init, None, _Grid(after=0, n=2))


@pytest.mark.parametrize("reproducible", [False, True])
def test_a_private_run_sends_no_seed_to_the_clients(reproducible, in_a_run):
    from datadiet.federated.flower import build_strategy
    from datadiet.federated.problems import initial_params

    s, init = build_strategy({"method": "diff2", "clients": 2, "num-server-rounds": 3, "seed": 5,
                              "reproducible": reproducible})
    torch.testing.assert_close(torch.as_tensor(init["x"].numpy()), initial_params("logreg", "digits", 5))
    (msg, _) = s.configure_train(1, init, None, _Grid(after=0, n=2))
    sent = dict(msg.content["config"])
    assert ("noise-seed" in sent) is reproducible
    assert sent["full"] is True and sent["C"] == 1.0 and sent["z"] == pytest.approx(s.z1)
