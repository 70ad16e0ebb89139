"""The mix driver: domain gradients from the training batch, resumable runs, distribution reweighting.

Rerun: ``pytest tests/test_mix_driver.py -q`` (tiny models, CPU, ~30 s).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datadiet.errors import InputError  # noqa: E402
from datadiet.mix.grads import group_rows, lm_part_loss, split_backward  # noqa: E402
from datadiet.mix.train import MixConfig, parse_model, prepare, run_mix, train_mix  # noqa: E402

TINY = dict(model="tiny", context=16, batch_size=8, probe_size=4, eval_every=5, eval_rows=8, device="cpu")


def _family_texts(family: int, n: int, seed: int, words: int = 30) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"{chr(97 + family)}{j}" for j in range(12)]
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n)]


def _domains(k=4, n=12):
    return {f"d{i}": _family_texts(i, n, seed=i) for i in range(k)}


def test_split_backward_parts_sum_to_the_full_batch_gradient():
    from datadiet.lm import GPT, GPTConfig
    from datadiet.lm.train import _batch

    data = prepare(_domains(), _family_texts(0, 4, 99), context=16)
    torch.manual_seed(0)
    model = GPT(GPTConfig(259, context=16, n_layer=1, n_head=2, n_embd=32))
    params = list(model.parameters())
    rows = np.array([0, 13, 2, 30, 31, 5, 40, 44, 3])
    groups = group_rows(np.array([0, 1, 0, 2, 2, 0, 3, 3, 0]))
    total_w = float(data.train.mask[torch.from_numpy(rows)].sum())
    loss, grads, weights = split_backward(lm_part_loss(model, data.train, rows), groups, params, total_weight=total_w)
    split = torch.cat([p.grad.reshape(-1) for p in params]).clone()
    # oracle 1: one ordinary backward pass of the whole batch
    model.zero_grad()
    x, y, m = _batch(data.train, torch.from_numpy(rows))
    _, full_loss = model(x, y, m)
    full_loss.backward()
    full = torch.cat([p.grad.reshape(-1) for p in params])
    assert loss == pytest.approx(float(full_loss.detach()), rel=1e-6)
    assert float((split - full).abs().max()) <= 1e-6 * float(full.abs().max())
    # oracle 2: each group's gradient is the gradient of that group's own mean loss
    for g, pos in groups.items():
        model.zero_grad()
        x, y, m = _batch(data.train, torch.from_numpy(rows[pos]))
        model(x, y, m)[1].backward()
        own = torch.cat([p.grad.reshape(-1) for p in params])
        assert float((grads[g] - own).abs().max()) <= 1e-5 * float(own.abs().max()), g
        assert weights[g] == float(m.sum())


def test_dga_with_eta_zero_trains_like_uniform():
    # DGA's update steps backpropagate the batch domain by domain; with eta = 0 the weights stay uniform,
    # so the run must match plain uniform training up to float rounding of the gradient sum
    doms = _domains()
    uni = train_mix(doms, _family_texts(0, 6, 99), mixer="uniform", steps=20, update_every=5, **TINY)
    dga = train_mix(doms, _family_texts(0, 6, 99), mixer="dga", eta=0.0, steps=20, update_every=5, **TINY)
    np.testing.assert_allclose(np.array(dga.losses)[1:, 1:], np.array(uni.losses)[1:, 1:], rtol=2e-4)
    np.testing.assert_allclose(dga.final_weights["d0"], 0.25)
    assert dga.update_seconds > 0 and uni.update_seconds == 0


def test_dga_moves_weight_to_the_target_family():
    doms = _domains()
    r = train_mix(doms, _family_texts(0, 8, 99), mixer="dga", steps=40, update_every=5, eta=10.0, ema=0.5, **TINY)
    w = r.final_weights
    assert w["d0"] == max(w.values()) and w["d0"] > 0.4, w


@pytest.mark.parametrize("absent", ["carry", "probe", "skip"])
def test_absent_domains(absent):
    # batch 2 over 6 domains: most domains are absent from each update's batch
    doms = {f"d{i}": _family_texts(i % 3, 6, seed=i) for i in range(6)}
    r = train_mix(doms, _family_texts(0, 6, 99), mixer="dga", steps=16, update_every=2, eta=10.0, ema=1.0,
                  absent=absent, **{**TINY, "batch_size": 2, "eval_every": 2})
    A = np.array(r.alignments)[:, 1:]
    W = np.array(r.weights)[:, 1:]  # one row per update (eval_every = update_every)
    assert A.shape == (8, 6) and np.allclose(W.sum(axis=1), 1)
    measured_once = np.maximum.accumulate(np.isfinite(A), axis=0)
    if absent == "probe":
        assert np.isfinite(A).all()  # every domain measured at every update
    elif absent == "carry":
        assert (np.isfinite(A) == measured_once).all()  # once measured, always carried
    else:
        assert np.isnan(A).any()
        skipped = np.isnan(A)
        np.testing.assert_array_equal(W[1:][skipped], W[:-1][skipped])  # a skipped domain keeps its weight


def test_odm_and_doremi_in_the_driver():
    doms = _domains(3)
    odm = train_mix(doms, _family_texts(0, 6, 99), mixer="odm", steps=12, **TINY)
    assert odm.mixer_state["t"] == 12  # one EXP3 update per training step, t = the step
    assert abs(sum(odm.final_weights.values()) - 1) < 1e-9
    dr = train_mix(doms, _family_texts(0, 6, 99), mixer="doremi", steps=10, reference_steps=10, **TINY)
    assert dr.average_weights is not None and dr.final_weights == dr.average_weights
    assert dr.reference_seconds > 0 and dr.mixer_state["type"] == "static"
    W = np.array(dr.weights)  # the proxy's trajectory; the reported run trains on its average
    assert W.shape[1] == 4 and not np.allclose(W[-1, 1:], 1 / 3)


def test_distribution_reweighting_with_256_fine_domains():
    # 256 fine domains from 4 word families (64 each); K = 4 basis distributions from hierarchical k-means
    # of their centroids must recover the families, and DGA must favour the target's family
    doms = {f"f{j}": _family_texts(j % 4, 2, seed=j, words=20) for j in range(256)}
    data = prepare(doms, _family_texts(0, 8, 999, words=20), context=16)
    cfg = MixConfig(mixer="dga", basis=4, steps=30, update_every=3, eta=10.0, ema=0.5, **TINY)
    r = run_mix(data, cfg)
    assert len(r.basis_names) == 4 and len(r.domains) == 256
    W = np.array(r.basis_weights)
    assert W.shape == (len(r.losses), 5)
    final_alpha = np.array(list(r.final_weights.values()))
    fam0 = final_alpha[0::4].sum()  # fine domains of family 0 (the target's)
    assert abs(final_alpha.sum() - 1) < 1e-9
    assert fam0 > 0.4, fam0  # started at 0.25


def test_parse_model_and_config_errors():
    assert parse_model("base") == (4, 128, 4) and parse_model("3x96") == (3, 96, 3)
    with pytest.raises(InputError, match="--model"):
        parse_model("huge")
    with pytest.raises(InputError, match="--scaling"):
        MixConfig(scaling="cosine")
    with pytest.raises(InputError, match="--basis applies"):
        MixConfig(mixer="uniform", basis=4)
    with pytest.raises(InputError, match="--absent"):
        MixConfig(absent="drop")
