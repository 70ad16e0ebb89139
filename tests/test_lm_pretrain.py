"""`datadiet lm pretrain`: cached by config and corpus, resumable bit for bit, honest token counts, CLI errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("transformers")

from datadiet.cli import app  # noqa: E402
from datadiet.lm.pretrain import QUICK, PretrainConfig, cache_key, find_base, pretrain, unigram_loss  # noqa: E402

runner = CliRunner()


def test_unigram_loss_closed_form():
    train = np.array([0, 0, 0, 1])  # counts 3, 1, 0 over vocab 3; add-one: 4/7, 2/7, 1/7
    val = np.array([0, 1, 2, 2])
    want = -(math.log(4 / 7) + math.log(2 / 7) + 2 * math.log(1 / 7)) / 4
    assert unigram_loss(train, val, 3) == pytest.approx(want, rel=1e-12)


def test_cache_key_moves_with_config_and_corpus_only():
    entries = [{"domain": "news", "sha256": "a", "bytes": 1}]
    k = cache_key(QUICK, entries)
    assert k == cache_key(QUICK, [dict(entries[0])]) and len(k) == 16
    assert k == cache_key(PretrainConfig(**{**QUICK.__dict__, "device": "cpu"}), entries)  # device: not part of it
    assert k != cache_key(PretrainConfig(**{**QUICK.__dict__, "steps": 41}), entries)
    assert k != cache_key(QUICK, [{**entries[0], "sha256": "b"}])


def test_pretrain_quick_is_cached_resumable_and_counts_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "a"))
    assert find_base(QUICK) is None
    assert pretrain(QUICK, progress=False, stop_after=20) is None  # "killed" at step 20: checkpoint kept
    resumed = pretrain(QUICK, progress=False)
    info = resumed.info
    assert json.loads((resumed.folder / "pretrain.json").read_text())["weights_sha256"] == resumed.sha256
    assert find_base(QUICK).sha256 == resumed.sha256  # second call: from the cache
    t = info["train_tokens"]
    assert t["tokens_seen"] + t["tokens_dropped"] == t["tokens"] and t["tokens_dropped"] <= QUICK.context
    assert info["tokens_trained"] == QUICK.steps * QUICK.batch_size * QUICK.context
    assert "sharegpt" not in info["corpus"]["domains"]
    assert info["val_perplexity"] == pytest.approx(math.exp(info["val_loss"]))
    assert info["val_loss"] < math.log(info["vocab_size"])  # it learned something in 40 steps
    # an uninterrupted run in another cache gives the same weights, bit for bit
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "b"))
    assert pretrain(QUICK, progress=False).sha256 == resumed.sha256


def test_cli_pretrain_quick_and_missing_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "c"))
    r = runner.invoke(app, ["lm", "pretrain", "--quick", "-q"])
    assert r.exit_code == 0, r.output
    assert "val loss" in r.stdout and "unigram" in r.stdout and "dropped" in r.stdout
    r2 = runner.invoke(app, ["lm", "pretrain", "--quick", "-q"])
    assert "(cached)" in r2.stdout
    # the default config reads the built corpus: none in this cache -> one line, exit 2, nothing written
    r = runner.invoke(app, ["lm", "pretrain", "-q"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "datadiet corpus build" in lines[0] and lines[0].startswith("datadiet: error:")
    assert not (tmp_path / "c" / "lm" / "base").exists() or len(list((tmp_path / "c" / "lm" / "base").iterdir())) == 1
