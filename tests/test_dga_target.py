"""dga-target: regimes are built as stated; the quick run writes every mixer's target loss."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from datadiet.experiments import dga_target  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402


def test_regimes_remove_the_specialist_set_and_cap():
    domains = {"a": [f"a{i}" for i in range(50)], "shakespeare": [f"s{i}" for i in range(100)]}
    cfg = dga_target.Config(specialist=10, tiny_specialist=3, capped_generic=5)
    for regime, n_spec, n_left in (("standard", 10, 90), ("capped", 10, 5), ("tiny", 3, 97)):
        train, spec = dga_target._regime(domains, cfg, regime, seed=0)
        assert len(spec) == n_spec and len(train["shakespeare"]) == n_left
        assert not set(spec) & set(train["shakespeare"])  # the target never leaks into training
        assert train["a"] == domains["a"]
    # same seed, same split; the specialist set of the tiny regime is the start of the standard one
    assert dga_target._regime(domains, cfg, "standard", 1) == dga_target._regime(domains, cfg, "standard", 1)
    assert dga_target._regime(domains, cfg, "tiny", 0)[1] == dga_target._regime(domains, cfg, "standard", 0)[1][:3]


def test_quick_run_is_well_formed(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))
    reproduce("dga-target", seeds=1, quick=True, out_dir=tmp_path / "out")
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    for mixer in dga_target.MIXERS:
        for suffix in ("", "_capped", "_tiny"):
            assert data["metrics"][f"target_loss_{mixer}{suffix}"]["n"] == 1
    assert "dga_overhead_pct" in data["metrics"]
    assert isinstance(data["held"], bool) and "DGA beats uniform" in data["rule"]
    for fig in data["figures"]:
        assert (tmp_path / "out" / fig).read_bytes()[:4] == b"\x89PNG"
