"""Every engine returns the exact greedy farthest-first selection of the working rows, on any input.

The oracle (tests/select_oracle.py) is independent code: decimal arithmetic for the unit rows,
integers for the distances, a textbook loop. Families are generated with hypothesis: exact ties on
integer grids, more duplicates than k, offset clusters, magnitudes from 1e-30 to 1e30, n = 1, d = 1,
k = n, float16/float32/float64/integer input, non-contiguous and memory-mapped arrays.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datadiet.errors import InputError
from datadiet.select import maxmin, metrics
from select_oracle import oracle

ENGINES = [dict(backend="numpy"), dict(backend="pruned")]
try:
    import torch  # noqa: F401

    ENGINES += [dict(backend="torch", device="cpu"), dict(backend="torch", device="cpu", precision="float16"),
                dict(backend="torch", device="cpu", precision="bfloat16")]
except ImportError:  # pragma: no cover
    pass
ENGINE_IDS = ["-".join(str(v) for v in e.values()) for e in ENGINES]


def check(X, k, metric, engine, dtype=None, start=None, prior=()):
    """maxmin against the oracle: the same picks, distances to 1e-9, covering radius too."""
    half = engine.get("precision", "float32") != "float32"
    work = np.float64 if dtype is None and np.asarray(X).dtype == np.float64 and not half else (dtype or np.float32)
    res = maxmin(X, k, metric=metric, start=start, already_selected=list(prior) or None, dtype=dtype, **engine)
    if start is None and not prior:  # documented: the first point is drawn with the seed (0)
        start = int(np.random.default_rng(0).integers(len(X)))
    want, dist = oracle(X, k, metric, work, start=start, prior=prior)
    assert res.indices.tolist() == want
    for got, ref in zip(res.distances.tolist(), dist):
        assert got == ref or abs(got - ref) <= 1e-9 * abs(ref), (got, ref)
    return res


def _grid(draw, n, d, lo=-3, hi=3):
    return np.array(draw(st.lists(st.lists(st.integers(lo, hi), min_size=d, max_size=d), min_size=n, max_size=n)))


@st.composite
def families(draw):
    """(X, k, start) from one of the families that break float shortcuts."""
    kind = draw(st.sampled_from(["grid", "duplicates", "offset", "magnitude", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "grid":  # exact ties everywhere
        n, d = draw(st.integers(2, 30)), draw(st.integers(1, 4))
        X = _grid(draw, n, d).astype(np.float64)
    elif kind == "duplicates":  # more copies than k
        base = rng.standard_normal((draw(st.integers(1, 5)), draw(st.integers(1, 4))))
        X = base[rng.integers(len(base), size=draw(st.integers(2, 25)))]
    elif kind == "offset":  # tight clusters far from the origin
        n, d = draw(st.integers(2, 30)), draw(st.integers(1, 5))
        X = rng.choice([-1000.0, 1000.0], size=(n, 1)) + 0.01 * rng.standard_normal((n, d))
    elif kind == "magnitude":  # 1e-30 .. 1e30, float32 and float64
        n, d = draw(st.integers(2, 25)), draw(st.integers(1, 4))
        X = rng.standard_normal((n, d)) * 10.0 ** draw(st.integers(-30, 30))
        if draw(st.booleans()):
            X = X.astype(np.float32)
    else:  # n = 1, d = 1
        n = draw(st.integers(1, 4))
        X = rng.standard_normal((n, 1))
    if kind != "offset" and draw(st.booleans()):
        X[X == 0] = 0  # keep exact zeros exact
    k = draw(st.integers(1, len(X)))
    start = draw(st.one_of(st.none(), st.integers(0, len(X) - 1)))
    return X, k, start


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
# DATADIET_EXAMPLES=2000 for a longer search than CI's
@settings(max_examples=int(os.environ.get("DATADIET_EXAMPLES", 80)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=families(), metric=st.sampled_from(["cosine", "euclidean"]))
def test_every_engine_matches_the_oracle(engine, data, metric):
    X, k, start = data
    if metric == "cosine":
        X = X[np.abs(X).sum(axis=1) > 0] if np.abs(X).sum(axis=1).min() == 0 else X
        if len(X) == 0:
            return
        k, start = min(k, len(X)), None if start is None or start >= len(X) else start
    check(X, k, metric, engine, start=start)


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_documented_cases(engine):
    # exact ties between basis vectors: every pair is at distance sqrt(2), ties to the lowest index
    assert check(np.eye(12), 6, "euclidean", engine, start=5).indices.tolist() == [5, 0, 1, 2, 3, 4]
    assert check(np.eye(12), 6, "cosine", engine, start=5).indices.tolist() == [5, 0, 1, 2, 3, 4]
    # small-integer count vectors: equal squared distances in integer arithmetic
    counts = np.random.default_rng(0).integers(0, 4, size=(40, 6)).astype(np.float64) + 1
    check(counts, 12, "cosine", engine, start=0)
    check(counts, 12, "euclidean", engine, start=0)
    # offset clusters at +-1000 with spread 0.01
    rng = np.random.default_rng(1)
    X = rng.choice([-1000.0, 1000.0], size=(1000, 1)) + 0.01 * rng.standard_normal((1000, 8))
    res = check(X, 50, "euclidean", engine, start=0)
    assert res.h_min_trace[-1] > metrics.h_min(X, rng.choice(1000, 50, replace=False), "euclidean")


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_magnitudes_layouts_and_dtypes(engine, metric, tmp_path):
    rng = np.random.default_rng(2)
    X32 = rng.standard_normal((40, 5)).astype(np.float32)
    base = check(X32, 15, metric, engine, start=3)
    for factor in (2.0**66, 2.0**-84, 2.0**100):  # powers of two: the working rows do not change
        assert maxmin(X32 * np.float32(factor), 15, metric=metric, start=3, **engine).indices.tolist() == base.indices.tolist()
    check(X32.astype(np.float64) * 1e39, 15, metric, engine, dtype=np.float32, start=3)  # beyond float32's range
    check(X32 * np.float32(1e20), 15, metric, engine, start=3)  # squares beyond float32's range
    check(X32 * np.float32(1e-25), 15, metric, engine, start=3)  # squares below it
    check(X32.astype(np.float16), 15, metric, engine, start=3)
    check(np.asfortranarray(X32), 15, metric, engine, start=3)
    check(np.repeat(X32, 2, axis=1)[:, ::2], 15, metric, engine, start=3)  # non-contiguous
    np.save(tmp_path / "x.npy", X32)
    check(np.load(tmp_path / "x.npy", mmap_mode="r"), 15, metric, engine, start=3)
    ints = rng.integers(-5, 6, size=(30, 3))
    ints[ints.sum(axis=1) == 0, 0] = 7
    if metric == "cosine":
        ints[~ints.any(axis=1), 0] = 1
    check(ints, 10, metric, engine, start=0)
    if engine.get("precision", "float32") == "float32":
        check(X32.astype(np.float64), 15, metric, engine, start=3)  # float64 working rows


@pytest.mark.parametrize("engine", ENGINES, ids=ENGINE_IDS)
def test_invariance(engine):
    rng = np.random.default_rng(3)
    G = rng.integers(-4, 5, size=(40, 3)).astype(np.float64)
    G[~G.any(axis=1), 0] = 1
    e = maxmin(G, 20, metric="euclidean", start=0, **engine)
    c = maxmin(G, 20, metric="cosine", start=0, **engine)
    for factor, shift in [(3.0, 0.0), (1e20, 0.0), (0.375, 0.0), (1.0, 1000.0), (7.0, -12345.0)]:
        Y = G * factor + shift  # exact in float64 for these integer data
        assert np.array_equal((Y - shift) / factor, G)
        got = maxmin(Y, 20, metric="euclidean", start=0, **engine)
        assert got.indices.tolist() == e.indices.tolist()
        if engine.get("precision", "float32") == "float32" or np.array_equal(Y.astype(np.float32), Y):
            np.testing.assert_allclose(got.distances[1:], e.distances[1:] * factor, rtol=1e-12)
        if shift == 0.0:
            assert maxmin(Y, 20, metric="cosine", start=0, **engine).indices.tolist() == c.indices.tolist()


def test_already_selected_matches_oracle():
    rng = np.random.default_rng(4)
    X = rng.integers(-3, 4, size=(60, 3)).astype(np.float64)
    X[~X.any(axis=1), 0] = 2
    for engine in ENGINES[:3]:
        for metric in ("cosine", "euclidean"):
            check(X, 20, metric, engine, prior=(5, 17, 30))
            check(X, 20, metric, engine, start=11, prior=(5, 17, 30))


@pytest.mark.parametrize("dtype, match", [(np.float16, "working precision"), ("int8", "working precision")])
def test_refused_dtypes(dtype, match):
    with pytest.raises(InputError, match=match):
        maxmin(np.eye(3), 2, dtype=dtype)


def test_float64_on_torch_works():
    pytest.importorskip("torch")
    X = np.random.default_rng(5).standard_normal((50, 4))
    check(X, 10, "cosine", dict(backend="torch", device="cpu"), dtype=np.float64, start=0)
    with pytest.raises(InputError, match="precision"):
        maxmin(X, 3, backend="torch", device="cpu", dtype=np.float64, precision="float16")
    with pytest.raises(InputError, match="device"):
        maxmin(X, 3, backend="pruned", device="cuda")


def _shard_main(rank, world, port, out):
    """Each rank runs maxmin_shard on its rows of every fixed family and records the result."""
    import json
    import os

    import torch.distributed as dist

    from datadiet.select.distributed import maxmin_shard, shard_bounds

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        got = []
        for X, k, metric, start in shard_families():
            lo, hi = shard_bounds(len(X), world, rank)
            res = maxmin_shard(X[lo:hi], len(X), k, metric=metric, start=start)
            got.append([res.indices.tolist(), res.distances.tolist()])
        with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
            json.dump(got, fh)
    finally:
        dist.destroy_process_group()


def shard_families():
    """Ties, copies on both sides of a shard boundary, offset clusters, wide magnitudes, fewer rows than ranks."""
    rng = np.random.default_rng(7)
    grid = rng.integers(-2, 3, size=(31, 3)).astype(np.float32)
    grid[~grid.any(axis=1), 0] = 1
    copies = rng.standard_normal((6, 4)).astype(np.float32)[rng.integers(6, size=40)]
    offset = (rng.choice([-1000.0, 1000.0], size=(60, 1)) + 0.01 * rng.standard_normal((60, 5))).astype(np.float32)
    wide = (rng.standard_normal((50, 4)) * 10.0 ** rng.uniform(-30, 30, size=(50, 1))).astype(np.float32)
    big = rng.integers(-4, 5, size=(900, 3)).astype(np.float32)  # >= 256 rows a shard: the scan drops rows
    big[~big.any(axis=1), 0] = 1
    return [(grid, 20, "euclidean", 0), (grid, 20, "cosine", 3), (copies, 12, "cosine", None),
            (copies, 12, "euclidean", 5), (offset, 15, "euclidean", 0), (wide, 20, "cosine", 1),
            (wide, 20, "euclidean", 1), (grid[:2], 2, "euclidean", 0), (big, 150, "cosine", 4)]


@pytest.mark.parametrize("world", [2, 3])
def test_shards_match_the_oracle(tmp_path, world):
    import json
    import socket

    mp = pytest.importorskip("torch.multiprocessing")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_shard_main, args=(world, port, str(tmp_path)), nprocs=world, join=True)
    for case, (X, k, metric, start) in enumerate(shard_families()):
        first = int(np.random.default_rng(0).integers(len(X))) if start is None else start
        want, dist = oracle(X, k, metric, np.float32, start=first)
        for rank in range(world):
            idx, got = json.loads((tmp_path / f"rank{rank}.json").read_text())[case]
            assert idx == want, (case, rank)
            for g, r in zip(got, dist):
                assert g == r or abs(g - r) <= 1e-9 * abs(r), (case, g, r)


class _Kill(Exception):
    pass


@pytest.mark.parametrize("engine", ENGINES[:3], ids=ENGINE_IDS[:3])
def test_resumed_runs_match_the_oracle(tmp_path, engine):
    rng = np.random.default_rng(8)
    X = rng.integers(-3, 4, size=(80, 3)).astype(np.float32)
    X[~X.any(axis=1), 0] = 1

    def killer(done):
        if done >= 17:
            raise _Kill

    for metric in ("cosine", "euclidean"):
        ck = tmp_path / metric
        with pytest.raises(_Kill):
            maxmin(X, 40, metric=metric, start=2, checkpoint=ck, checkpoint_every=0.0, progress=killer, **engine)
        res = maxmin(X, 40, metric=metric, start=2, checkpoint=ck, **engine)
        want, dist = oracle(X, 40, metric, np.float32, start=2)
        assert res.indices.tolist() == want
        np.testing.assert_allclose(res.distances[1:], dist[1:], rtol=1e-9)


def test_the_plain_scan_drops_rows_out_of_the_running_and_still_matches_the_oracle(tmp_path):
    """Below PRUNE_FROM rows the scan's transposed copy holds only rows in the running (dropped once a
    32nd of it is out): picks, distances and a run resumed after drops still match the oracle."""
    from datadiet.select.plain import PlainState
    from datadiet.select.points import as_points

    rng = np.random.default_rng(11)
    X = rng.integers(-4, 5, size=(1000, 3)).astype(np.float32)  # 729 values: copies and exact ties
    X[~X.any(axis=1), 0] = 1
    state = PlainState(as_points(X, "euclidean"))
    gone = np.arange(0, 1000, 10)
    state.exclude(gone)
    assert state.live.size == 900 and state.XT.shape[1] == 900 and (state.slot[gone] == -1).all()
    assert state.band(-np.inf).tolist() == np.setdiff1d(np.arange(1000), gone).tolist()
    for metric in ("cosine", "euclidean"):
        check(X, 400, metric, dict(backend="numpy"), start=7)

        def killer(done):
            if done >= 250:
                raise _Kill

        ck = tmp_path / metric
        with pytest.raises(_Kill):
            maxmin(X, 400, metric=metric, start=7, checkpoint=ck, checkpoint_every=0.0, progress=killer)
        res = maxmin(X, 400, metric=metric, start=7, checkpoint=ck)
        want, dist = oracle(X, 400, metric, np.float32, start=7)
        assert res.indices.tolist() == want
        np.testing.assert_allclose(res.distances[1:], dist[1:], rtol=1e-9)
