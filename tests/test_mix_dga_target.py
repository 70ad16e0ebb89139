"""dga-target: the regimes are built as stated; the quick run writes every result key of issue 17."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from datadiet.experiments import dga_target  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("dga")
    import os

    old = os.environ.get("DATADIET_CACHE")
    os.environ["DATADIET_CACHE"] = str(root / "cache")
    try:
        reproduce("dga-target", seeds=1, quick=True, out_dir=root / "out")
    finally:
        if old is None:
            os.environ.pop("DATADIET_CACHE", None)
        else:
            os.environ["DATADIET_CACHE"] = old
    return root / "out"


def test_quick_run_writes_every_key(quick):
    data = json.loads((quick / "result.json").read_text())
    metrics = data["metrics"]
    cfg = dga_target.QUICK
    regimes = ["standard", "capped", *[f"scarce{n}" for n in cfg.scarce]]
    for mixer in dga_target.MIXERS:
        for regime in regimes:
            assert metrics[f"target_loss_{mixer}_{regime}"]["n"] == 1
            assert metrics[f"target_loss_min_{mixer}_{regime}"]["mean"] <= metrics[f"target_loss_{mixer}_{regime}"]["mean"] + 0.5
    for k in cfg.granularity:
        assert f"target_loss_dga_k{k}" in metrics and f"target_loss_is_k{k}" in metrics
    for key in ("is_overfit_gap_capped", "dga_overhead_pct"):
        assert np.isfinite(metrics[key]["mean"])
    assert metrics["is_overfit_gap_capped"]["mean"] >= 0  # final minus minimum of the same curve
    assert isinstance(data["held"], bool) and "capped: DGA beats IS" in data["rule"]
    for fig in data["figures"]:
        assert (quick / fig).read_bytes()[:4] == b"\x89PNG"


def test_regimes_hold_the_target_out_and_cap(quick, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(quick.parent / "cache"))
    cfg = dga_target.QUICK
    val, pool = dga_target._target(cfg, seed=0)
    assert len(val) == cfg.val_windows
    vt = {tuple(w.tolist()) for w in val.tokens}
    assert not vt & {tuple(w.tolist()) for w in pool.tokens}  # specialist windows never in validation
    sp = pool.subset(np.arange(cfg.specialist))
    docs, source, _, tdocs = dga_target._generic(cfg)
    assert cfg.target_domain not in set(source)  # the target domain is absent from the generic data
    full = dga_target._build(cfg, cfg.clusters, None, sp, val, dga_target._decode(sp.tokens.numpy()))
    capped = dga_target._build(cfg, cfg.clusters, cfg.capped_windows, sp, val, dga_target._decode(sp.tokens.numpy()))
    assert full.names == capped.names and len(full.names) == cfg.clusters
    for n in capped.names:
        assert len(capped.domain_indices[n]) == min(cfg.capped_windows, len(full.domain_indices[n]))
    # whole documents packed: a cluster's stream (bytes + one <|eos|> per document) fills ceil((n - 1) / context)
    # windows of context + 1 tokens sharing one token; nothing is dropped
    labels = dga_target._clusters(cfg, cfg.clusters)
    for j, n in enumerate(full.names):
        stream = sum(len(docs[i].encode()) + 1 for i in np.flatnonzero(labels == int(n[1:])))
        assert len(full.domain_indices[n]) == -(-(stream - 1) // cfg.context), n
    # nested specialist sets: the scarce set is the start of the standard one
    assert (pool.subset(np.arange(cfg.scarce[0])).tokens == sp.tokens[: cfg.scarce[0]]).all()
