"""`datadiet select --distributed` on text: each rank embeds only its shard, and the run's indices,
stats and files equal the single-process run's; bad rows fail the same way on every rank, no hang.

Rerun: ``pytest tests/test_select_distributed_embed.py -q`` (launches torchrun with 2 gloo ranks).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from datadiet.embed import cache_digest, embed_cached, get_embedder
from datadiet.errors import InputError
from datadiet.select import maxmin, metrics
from datadiet.select.distributed import shard_bounds

torch = pytest.importorskip("torch")
TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable))
WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
         "sigma tau upsilon phi chi psi omega").split()


def texts_with_copies(n: int = 300, seed: int = 0) -> list[str]:
    """Short word salads; every 17th text repeats an earlier one, every 13th extends one by a word."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        if i % 17 == 5:
            out.append(out[rng.randrange(len(out))])
        elif i % 13 == 7:
            out.append(out[rng.randrange(len(out))] + " " + rng.choice(WORDS))
        else:
            out.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))))
    return out


def write_jsonl(path, texts):
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def cli(tmp_path, cache, args, *, ranks=None):
    """`datadiet select ARGS` in a subprocess: plain, or under torchrun with `ranks` gloo ranks.

    BLAS gets one thread in both (torchrun's default): the metrics are then equal to the last bit.
    """
    env = {**os.environ, "DATADIET_CACHE": str(cache), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on CPU even where a GPU is present
    launcher = [sys.executable, "-m"]
    if ranks is not None:
        # "--" ends torchrun's options, or it takes datadiet's --start for its own --start-method
        launcher = [TORCHRUN, "--standalone", "--nproc-per-node", str(ranks), "-m", "--"]
    cmd = [*launcher, "datadiet.cli", "select", *map(str, args), "-q"] + (["--distributed"] if ranks else [])
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)


def stats_without_timings(path):
    stats = json.loads(path.read_text())
    stats.pop("seconds")
    return stats


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
@pytest.mark.parametrize("metric, k, world", [("cosine", 40, 2), ("euclidean", 150, 2), ("euclidean", 290, 3)])
def test_ranks_embed_their_shards_and_match_one_process(tmp_path, metric, k, world):
    texts = texts_with_copies()
    src = write_jsonl(tmp_path / "data.jsonl", texts)
    runs = {}
    for name, ranks in (("single", None), ("ranks", world)):
        out = {f: tmp_path / f"{name}-{f}" for f in ("idx.txt", "stats.json", "sub.jsonl", "plot.png")}
        # every engine makes the exact picks, so the single process runs the default ("numpy" here)
        r = cli(tmp_path, tmp_path / f"cache-{name}", [src, "-k", k, "--embedder", "hashing", "--metric", metric,
                "--seed", 3, "--indices-out", out["idx.txt"], "--stats-out", out["stats.json"],
                "--out", out["sub.jsonl"], "--plot", out["plot.png"]], ranks=ranks)
        assert r.returncode == 0, r.stderr
        runs[name] = out

    single, ranks = runs["single"], runs["ranks"]
    assert ranks["idx.txt"].read_text() == single["idx.txt"].read_text()
    assert ranks["sub.jsonl"].read_bytes() == single["sub.jsonl"].read_bytes()
    assert ranks["plot.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    got = stats_without_timings(ranks["stats.json"])
    assert got == stats_without_timings(single["stats.json"])  # every number, to the last bit
    # the data has copies, some across shards (rows 25 and 192), and the stats see them: seed 3
    # starts at a copy (243 of 232), every random subset holds a duplicate pair (h_min 0), and
    # k=290 exceeds the distinct rows
    X = embed_cached(get_embedder("hashing"), texts, cache=False)
    idx = np.array([int(x) for x in single["idx.txt"].read_text().split()])
    assert got["distinct_rows"] == len(set(texts)) == 281
    assert texts[243] == texts[232] and texts[25] == texts[192] and idx[0] == 243
    assert got["h_min"] == pytest.approx(metrics.h_min(X, idx, metric), abs=1e-12)
    assert got["random_h_min"] == 0.0
    assert (got["h_min"] == 0.0) == (k > 281)

    # Each rank embedded its own shard only: one cache entry per shard, keyed by exactly its texts.
    entries = sorted((tmp_path / "cache-ranks" / "embeddings").glob("*.npz"))
    expected = []
    for rank in range(world):
        lo, hi = shard_bounds(len(texts), world, rank)
        digest = cache_digest(get_embedder("hashing"), texts[lo:hi])
        expected.append(tmp_path / "cache-ranks" / "embeddings" / f"hashing-{digest[:16]}.npz")
        np.testing.assert_array_equal(np.load(expected[-1])["vectors"], X[lo:hi])
    assert entries == sorted(expected)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
def test_word_less_text_on_rank_1_fails_like_one_process(tmp_path):
    texts = texts_with_copies()
    texts[249] = texts[280] = "!!! ???"  # no \w+ token: an all-zero hashing vector, in rank 1's half
    src = write_jsonl(tmp_path / "data.jsonl", texts)
    args = [src, "-k", 20, "--embedder", "hashing", "--indices-out", tmp_path / "i.txt"]
    single = cli(tmp_path, tmp_path / "cache", args)
    assert single.returncode == 2
    line = single.stderr.strip()
    assert line == (f"datadiet: error: {src}, line 250 embeds to an all-zero vector (no words), which has "
                    "no cosine direction (2 such rows); drop them or use --metric euclidean")
    ranks = cli(tmp_path, tmp_path / "cache", args, ranks=2)  # a hang would hit the subprocess timeout
    assert ranks.returncode != 0
    assert line in ranks.stderr.splitlines()
    # the ranks exited through the CLI's one-line error (code 2), not a traceback: the only frames
    # printed are torchrun's own, in its failure summary
    assert "exitcode  : 2" in ranks.stderr
    frames = [x for x in ranks.stderr.splitlines() if x.strip().startswith('File "')]
    assert not [f for f in frames if "datadiet" in f]
    assert not (tmp_path / "i.txt").exists()


def copies_everywhere(n=400, distinct=60, seed=0):
    """`distinct` random rows, each repeated at random positions: many copies in other shards."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((distinct, 8)).astype(np.float32)[rng.integers(distinct, size=n)]


def wide_rows(n=2001, seed=4):
    """Rows of magnitudes 1e-3..1e3: summing them in another order changes the last bits."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 8)) * 10.0 ** rng.uniform(-3, 3, size=(n, 1))).astype(np.float32)


def _rank_main(rank, world, port, src, out):
    """Each rank records the error it raised (the pipeline's word-less text, then a NaN row) and
    its selections of rows copied across shards."""
    import torch.distributed as dist

    from datadiet.io import read_dataset
    from datadiet.select.distributed import maxmin_shard
    from datadiet.select.pipeline import SelectConfig, run as select_dataset

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    errors = []
    try:
        try:
            select_dataset(read_dataset(src), SelectConfig(k=5, embedder="hashing"), distributed=True)
        except InputError as exc:
            errors.append(str(exc))
        X = np.ones((10, 3), dtype=np.float32)
        X[2] = 0.0  # an all-zero row on rank 0, a NaN row on rank 1: NaN is reported first
        X[7, 1] = np.nan
        lo, hi = shard_bounds(10, world, rank)
        try:
            maxmin_shard(X[lo:hi], 10, 3)
        except InputError as exc:
            errors.append(str(exc))
        C = copies_everywhere()
        lo, hi = shard_bounds(len(C), world, rank)
        picks = {m: maxmin_shard(C[lo:hi], len(C), 80, metric=m, seed=1).indices.tolist()
                 for m in ("cosine", "euclidean")}
        W = wide_rows()
        lo, hi = shard_bounds(len(W), world, rank)
        wide = maxmin_shard(W[lo:hi], len(W), 120, metric="euclidean", seed=3)
        with open(os.path.join(out, f"rank{rank}.json"), "w") as fh:
            json.dump({"errors": errors, "picks": picks, "wide": wide.indices.tolist(),
                       "wide_distances": wide.distances.tolist()}, fh)
    finally:
        dist.destroy_process_group()


def test_every_rank_raises_the_single_process_error_and_agrees_on_copies(tmp_path, monkeypatch):
    import torch.multiprocessing as mp

    from datadiet.io import read_dataset
    from datadiet.select.pipeline import SelectConfig, run as select_dataset

    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))
    texts = texts_with_copies(40)
    texts[30] = "..."  # rank 1's shard (rows 20..39)
    src = write_jsonl(tmp_path / "data.jsonl", texts)
    with pytest.raises(InputError) as single:
        select_dataset(read_dataset(src), SelectConfig(k=5, embedder="hashing"))
    X = np.ones((10, 3), dtype=np.float32)
    X[2], X[7, 1] = 0.0, np.nan
    with pytest.raises(InputError) as single_nan:
        maxmin(X, 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(2, port, str(src), str(tmp_path)), nprocs=2, join=True)
    C = copies_everywhere()
    # 80 picks of 60 distinct rows: after the 60th, copies of chosen rows at distance 0, lowest index first
    expected = {m: maxmin(C, 80, metric=m, seed=1).indices.tolist() for m in ("cosine", "euclidean")}
    distinct = np.unique(C, axis=0).shape[0]  # every distinct vector once before any copy
    assert np.unique(C[expected["cosine"][:distinct]], axis=0).shape[0] == distinct
    W = wide_rows()  # magnitudes 1e-3..1e3: the euclidean scale is global, the picks exact
    wide = maxmin(W, 120, metric="euclidean", seed=3)
    for rank in range(2):
        got = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert got["errors"] == [str(single.value), str(single_nan.value)]
        assert got["picks"] == expected
        assert got["wide"] == wide.indices.tolist()
        np.testing.assert_allclose(got["wide_distances"], wide.distances, rtol=1e-12)
    assert "line 31" in str(single.value) and "row 7 of X holds NaN" in str(single_nan.value)


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun is not installed beside this Python")
def test_npy_input_under_torchrun_keeps_start_and_matches_one_process(tmp_path):
    """An embeddings file: each rank copies its rows out of the memory map; --start after the
    module name reaches datadiet, not torchrun (whose own --start-method it would abbreviate)."""
    X = embed_cached(get_embedder("hashing"), texts_with_copies(), cache=False)
    np.save(tmp_path / "emb.npy", X)
    out = {}
    for name, ranks in (("single", None), ("ranks", 2)):
        out[name] = tmp_path / f"{name}.txt"
        r = cli(tmp_path, tmp_path / "cache", [tmp_path / "emb.npy", "-k", 30, "--start", 7,
                "--indices-out", out[name]], ranks=ranks)
        assert r.returncode == 0, r.stderr
    assert out["ranks"].read_text() == out["single"].read_text()
    assert out["single"].read_text().split()[0] == "7"


def test_npy_is_memory_mapped_and_a_shard_copies_its_rows_only(tmp_path):
    from datadiet.io import read_dataset
    from datadiet.select.pipeline import SelectConfig, embed_dataset

    X = np.arange(40 * 3, dtype=np.float64).reshape(40, 3)
    np.save(tmp_path / "x.npy", X)
    ds = read_dataset(tmp_path / "x.npy")
    assert isinstance(ds.embeddings, np.memmap) and not ds.embeddings.flags.writeable
    part, info = embed_dataset(ds, SelectConfig(), rows=(20, 40))
    assert info["embedder"] == "npy" and isinstance(part, np.memmap)  # a view: rows 20..39 are read
    np.testing.assert_array_equal(part, X[20:40])  # when the working rows are built from them
