"""`datadiet select` engine flags: --backend, --precision, --checkpoint DIR, --distributed (exit 2 on misuse)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.select import maxmin

runner = CliRunner()


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    for var in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)


def run(*args):
    return runner.invoke(app, ["select", *[str(a) for a in args]])


@pytest.fixture
def emb(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 16)).astype(np.float32)
    np.save(tmp_path / "emb.npy", X)
    return tmp_path / "emb.npy", X


def indices(path):
    return np.array([int(x) for x in path.read_text().split()])


@pytest.mark.parametrize("flags", [[], ["--backend", "numpy"], ["--backend", "torch", "--precision", "bfloat16"]])
def test_engines_and_checkpoint_give_the_library_result(tmp_path, emb, flags):
    path, X = emb
    out = tmp_path / "idx.txt"
    r = run(path, "-k", 50, "--seed", 3, "--indices-out", out, "--checkpoint", tmp_path / "ck", "-q", *flags)
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(indices(out), maxmin(X, 50, seed=3, backend="numpy").indices)


@pytest.mark.parametrize("args, message", [  # the library's own messages (select/params.py)
    (["--backend", "numpy", "--precision", "float16"], "precision='float16' needs backend='torch'"),
    (["--precision", "fp8"], "precision='fp8' is not supported; use one of: float32, float16, bfloat16"),
    (["--backend", "gpu"], "backend='gpu' is not supported; use one of: auto, numpy, pruned, torch"),
    (["--metric", "manhattan"], "metric='manhattan' is not supported"),
    (["--distributed"], "--distributed needs a torchrun launch"),
    (["--distributed", "--checkpoint", "ck"], "checkpoint is not supported with distributed"),
    (["--distributed", "--backend", "pruned"], "drop backend='pruned'"),
])
def test_bad_engine_flags_exit_2(tmp_path, emb, args, message):
    path, _ = emb
    r = run(path, "-k", 5, "--indices-out", tmp_path / "i.txt", "-q", *args)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert not (tmp_path / "i.txt").exists()


def test_checkpoint_of_another_run_is_refused(tmp_path, emb):
    path, _ = emb
    ck = tmp_path / "ck"
    assert run(path, "-k", 30, "--indices-out", tmp_path / "a.txt", "--checkpoint", ck, "-q").exit_code == 0
    r = run(path, "-k", 30, "--seed", 9, "--indices-out", tmp_path / "b.txt", "--checkpoint", ck, "-q")
    assert r.exit_code == 2 and "holds a different run" in r.output
