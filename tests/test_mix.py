"""Tests for datadiet.mix: DGA, baselines, DomainSampler (fast; < 30 s)."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datadiet.errors import InputError
from datadiet.mix import DGA, ODM, DoReMi, ImportanceSampling, Natural, Static, Uniform, compute_alignment
from datadiet.mix.dga import adam_preconditioner

torch = pytest.importorskip("torch")
from datadiet.mix import DomainSampler  # noqa: E402  (needs torch)

DOMS = ["a", "b", "c", "d"]


def on_simplex(w, k):
    w = np.asarray(w)
    return w.shape == (k,) and np.isfinite(w).all() and (w >= 0).all() and abs(w.sum() - 1) <= 1e-9


# ---------------------------------------------------------------- DGA: simplex property
wild = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e308, -1e308, 1e-320]))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.lists(wild, min_size=4, max_size=4), min_size=1, max_size=6),
    eta=st.one_of(st.floats(0, 1e6), st.sampled_from([0.0, 1e300])),
    ema=st.floats(1e-6, 1.0),
    use_basis=st.booleans(),
)
def test_dga_weights_stay_on_simplex(steps, eta, ema, use_basis):
    basis = np.array([[0.5, 0.25], [0.5, 0.25], [0.0, 0.25], [0.0, 0.25]]) if use_basis else None
    m = DGA(DOMS, eta=eta, ema=ema, basis=basis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in steps:
            m.update(a)
            assert on_simplex(m.weights(), 4)
            assert on_simplex(m.basis_weights(), 2 if use_basis else 4)


@settings(max_examples=50, deadline=None)
@given(g=st.lists(st.lists(wild, min_size=3, max_size=3), min_size=4, max_size=4),
       t=st.lists(wild, min_size=3, max_size=3), scaling=st.sampled_from(["raw", "normalized"]))
def test_dga_observe_wild_gradients_stay_on_simplex(g, t, scaling):
    m = DGA(DOMS, eta=1.0, ema=1.0, scaling=scaling)
    before = m.weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = m.observe(domain_grads=dict(zip(DOMS, map(np.array, g))), target_grad=np.array(t))
    assert not np.isinf(a).any()  # a bad entry is NaN (skipped), never propagated as inf
    assert on_simplex(m.weights(), 4)
    skipped = np.isnan(a)
    if skipped.any() and not skipped.all():  # skipped domains keep their weight exactly
        np.testing.assert_array_equal(m.weights()[skipped], before[skipped])


def test_dga_skips_nan_and_zero_gradients_leaving_their_weight_unchanged():
    m = DGA(DOMS, eta=1.0, ema=1.0)
    g = {"a": np.array([1.0, 0.0]), "b": np.array([np.nan, 1.0]), "c": np.zeros(2), "d": np.array([-1.0, 0.0])}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = m.observe(domain_grads=g, target_grad=np.array([3.0, 0.0]))
    msgs = " ".join(str(w.message) for w in caught)
    assert "'b' is non-finite" in msgs and "'c' is zero" in msgs
    np.testing.assert_allclose(a[[0, 3]], [1.0, -1.0])  # cosines
    assert np.isnan(a[1]) and np.isnan(a[2])
    e = math.e
    # b and c keep 1/4 each; a and d share the other half by softmax(log α + η a)
    np.testing.assert_allclose(m.weights(), [0.5 * e / (e + 1 / e), 0.25, 0.25, 0.5 * (1 / e) / (e + 1 / e)])
    before = m.weights()
    with pytest.warns(RuntimeWarning, match="target gradient"):
        m.observe(domain_grads=g, target_grad=np.zeros(2))
    np.testing.assert_array_equal(m.weights(), before)
    # a domain left out of the mapping is skipped the same way, with EMA too
    m2 = DGA(["x", "y", "z"], eta=2.0, ema=0.5)
    m2.update({"x": 1.0, "y": 0.0})
    w_hat = np.array([2 / 3 * e**2 / (e**2 + 1), 2 / 3 * 1 / (e**2 + 1), 1 / 3])
    np.testing.assert_allclose(m2.weights(), 0.5 / 3 + 0.5 * w_hat)
    assert m2.weights()[2] == 1 / 3


def test_dga_update_known_answer_with_ema_and_scalings():
    m = DGA(["x", "y"], eta=2.0, ema=0.5)
    m.update([0.5, 0.0])  # alpha_hat = softmax(log .5 + [1, 0]) = [e, 1]/(e+1)
    e = math.e
    np.testing.assert_allclose(m.weights(), 0.5 * np.array([0.5, 0.5]) + 0.5 * np.array([e, 1]) / (e + 1))
    n = DGA(["x", "y"], scaling="normalized")  # cosines
    a = n.alignment({"x": np.array([3.0, 4.0]), "y": np.array([0.0, 2.0])}, np.array([1.0, 1.0]))
    np.testing.assert_allclose(a, [7 / (5 * math.sqrt(2)), 1 / math.sqrt(2)])
    r = DGA(["x", "y"], scaling="raw")
    np.testing.assert_allclose(r.alignment({"x": np.array([3.0, 4.0]), "y": np.array([0.0, 2.0])},
                                           np.array([1.0, 1.0])), [7.0, 2.0])
    ad = DGA(["x", "y"], scaling="adam")  # cos(D g, g_t)
    a = ad.alignment({"x": np.array([1.0, 1.0]), "y": np.array([1.0, 0.0])}, np.array([2.0, 2.0]),
                     precond=np.array([0.5, 1.0]))
    np.testing.assert_allclose(a, [1.5 / (math.sqrt(1.25) * math.sqrt(2)), 1 / math.sqrt(2)], rtol=1e-12)
    # the normalized rule is scale-free: gradients 1e-6 times smaller move α exactly as much
    big, small = DGA(["x", "y"]), DGA(["x", "y"])
    g = {"x": np.array([1.0, 0.2]), "y": np.array([-0.3, 1.0])}
    big.observe(domain_grads=g, target_grad=np.array([1.0, 0.5]))
    small.observe(domain_grads={k: 1e-6 * v for k, v in g.items()}, target_grad=1e-6 * np.array([1.0, 0.5]))
    np.testing.assert_allclose(big.weights(), small.weights(), rtol=1e-12)


def test_dga_distribution_reweighting():
    P = np.array([[0.5, 0.0], [0.5, 0.0], [0.0, 0.5], [0.0, 0.5]])
    m = DGA(DOMS, eta=1.0, ema=1.0, basis=P, basis_names=["ab", "cd"])
    np.testing.assert_allclose(m.weights(), 0.25)
    m.update([2.0, 0.0, 0.0, 0.0])  # a_basis = P^T a = [1, 0]
    w = np.array([math.e, 1.0]) / (math.e + 1)
    np.testing.assert_allclose(m.basis_weights(), w)
    np.testing.assert_allclose(m.weights(), P @ w)
    e = math.e
    m2 = DGA(DOMS, eta=1.0, ema=1.0, basis=P, basis_names=["ab", "cd"])
    m2.observe(domain_grads={"ab": np.array([1.0, 0.0]), "cd": np.array([0.0, 1.0])}, target_grad=np.array([1.0, 0.0]))
    np.testing.assert_allclose(m2.basis_weights(), [e / (e + 1), 1 / (e + 1)])  # cosines 1 and 0
    m3 = DGA(DOMS, eta=1.0, ema=1.0, basis=P, basis_names=["ab", "cd"])
    with pytest.warns(RuntimeWarning, match="'c'"):
        m3.update({"a": 2.0, "c": float("nan")})  # column cd has no valid fine alignment: it is skipped
    np.testing.assert_allclose(m3.basis_weights(), [0.5, 0.5])  # ab's mean over its valid domains is 2
    m3.update({"a": 2.0, "b": 0.0, "c": 1.0})  # ab: mean 1, cd: 1 (d missing) -> no change
    np.testing.assert_allclose(m3.basis_weights(), [0.5, 0.5])
    with pytest.raises(InputError, match="column 1"):
        DGA(DOMS, basis=np.array([[1.0, 0.2], [0.0, 0.2], [0.0, 0.2], [0.0, 0.2]]))


def test_dga_state_dict_round_trip():
    rng = np.random.default_rng(0)
    a_seq = rng.standard_normal((10, 4))
    m = DGA(DOMS, eta=0.7, ema=0.3)
    for a in a_seq[:5]:
        m.update(a)
    m2 = DGA(DOMS, eta=0.7, ema=0.3)
    m2.load_state_dict(json.loads(json.dumps(m.state_dict())))
    for a in a_seq[5:]:
        m.update(a)
        m2.update(a)
        np.testing.assert_array_equal(m.weights(), m2.weights())
    with pytest.raises(InputError):
        DGA(["a", "b"]).load_state_dict(m.state_dict())


@pytest.mark.parametrize("kw", [{"eta": -1.0}, {"eta": float("nan")}, {"ema": 0.0}, {"ema": 1.5},
                                {"update_every": 0}, {"scaling": "cosine"}])
def test_dga_rejects_bad_parameters(kw):
    with pytest.raises(InputError):
        DGA(DOMS, **kw)


# ---------------------------------------------------------------- DGA: real model
def _four_domains(seed=0, d=8, n=400, n_target=200):
    """4 Gaussian domains, labels from different linear rules (domain 0's rule = -domain 2's)."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((4, d))
    U[0] = -U[2]
    X = rng.standard_normal((4 * n, d))
    Y = np.concatenate([(X[i * n:(i + 1) * n] @ U[i] > 0) for i in range(4)]).astype(np.float32)
    doms = {f"d{i}": list(range(i * n, (i + 1) * n)) for i in range(4)}
    XT = rng.standard_normal((n_target, d))  # held-out split of domain 2
    YT = (XT @ U[2] > 0).astype(np.float32)
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return f(X), f(Y), doms, f(XT), f(YT)


def _bce(model, batch):
    x, y = batch
    return torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(-1), y)


def test_dga_finds_the_target_domain_with_a_real_model():
    X, Y, doms, XT, YT = _four_domains()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mixer = DGA(list(doms), eta=5.0, ema=0.5, update_every=5)
    sampler = DomainSampler(doms, mixer, batch_size=32, seed=0)
    rng = np.random.default_rng(1)
    it = iter(sampler)
    for step in range(80):
        idx = torch.tensor(next(it))
        opt.zero_grad()
        _bce(model, (X[idx], Y[idx])).backward()
        opt.step()
        if mixer.due(step):
            probes = {}
            for name, rows in doms.items():
                j = torch.tensor(rng.choice(rows, 64))
                probes[name] = (X[j], Y[j])
            jt = torch.tensor(rng.choice(len(XT), 64))
            grads_before = [p.grad.clone() for p in model.parameters()]
            mixer.update(compute_alignment(model, _bce, probes, (XT[jt], YT[jt])))
            for p, g in zip(model.parameters(), grads_before):  # .grad untouched
                assert torch.equal(p.grad, g)
            assert on_simplex(mixer.weights(), 4)
    w = mixer.weights()
    assert w[2] > 0.5, w
    assert w[0] < 0.1, w  # the opposite rule is pushed away


# ---------------------------------------------------------------- sampler
def test_sampler_frequencies_match_alpha_chi_square():
    from scipy.stats import chisquare

    alpha = np.array([0.1, 0.2, 0.3, 0.4])
    doms = {n: list(range(i * 50, i * 50 + 50)) for i, n in enumerate(DOMS)}
    s = DomainSampler(doms, Static(dict(zip(DOMS, alpha))), batch_size=100, seed=123)
    it = iter(s)
    counts = np.zeros(4)
    owner = {j: i for i, n in enumerate(DOMS) for j in doms[n]}
    for _ in range(200):
        batch = next(it)
        assert [DOMS[owner[j]] for j in batch] == s.last_batch_domains
        for j in batch:
            counts[owner[j]] += 1
    assert counts.sum() == 20_000
    assert chisquare(counts, alpha * counts.sum()).pvalue > 1e-3


def test_sampler_walks_each_domain_without_replacement_per_epoch():
    doms = {"a": [10, 11, 12], "b": [20, 21]}
    s = DomainSampler(doms, Static({"a": 1.0, "b": 0.0}), batch_size=3, seed=0)
    it = iter(s)
    first, second = next(it), next(it)
    assert sorted(first) == [10, 11, 12] and sorted(second) == [10, 11, 12]


def test_sampler_reads_new_weights_every_batch():
    doms = {"a": [0, 1], "b": [2, 3]}
    m = DGA(["a", "b"], eta=1.0, ema=1.0)
    s = DomainSampler(doms, m, batch_size=50, seed=0)
    it = iter(s)
    next(it)
    m.update([1e6, -1e6])
    assert set(next(it)) == {0, 1}


def test_sampler_and_mixer_resume_identically():
    doms = {n: list(range(i * 7, i * 7 + 7 + i)) for i, n in enumerate(DOMS)}
    rng = np.random.default_rng(0)
    a_seq = rng.standard_normal((30, 4))

    def run(sampler, mixer, start, stop):
        it, out = iter(sampler), []
        for t in range(start, stop):
            out.append(next(it))
            mixer.update(a_seq[t])
        return out

    m = DGA(DOMS, eta=1.0, ema=0.5)
    s = DomainSampler(doms, m, batch_size=5, seed=7)
    full = run(s, m, 0, 30)

    m1 = DGA(DOMS, eta=1.0, ema=0.5)
    s1 = DomainSampler(doms, m1, batch_size=5, seed=7)
    head = run(s1, m1, 0, 13)
    state = json.loads(json.dumps(s1.state_dict()))
    m2 = DGA(DOMS, eta=1.0, ema=0.5)  # fresh mixer: its state travels inside the sampler's
    s2 = DomainSampler(doms, m2, batch_size=5, seed=7)
    s2.load_state_dict(state)
    assert s2.last_batch_domains == s1.last_batch_domains
    tail = run(s2, m2, 13, 30)
    assert head + tail == full
    np.testing.assert_array_equal(m2.weights(), m.weights())


def test_sampler_errors_name_the_domain():
    with pytest.raises(InputError, match="'b'.*empty"):
        DomainSampler({"a": [0], "b": []}, Uniform(["a", "b"]), 4)
    with pytest.raises(InputError, match="'c'"):
        DomainSampler({"a": [0], "b": [1], "c": [2]}, Uniform(["a", "b"]), 4)
    with pytest.raises(InputError, match="'b'"):
        DomainSampler({"a": [0]}, Uniform(["a", "b"]), 4)
    with pytest.raises(InputError, match="batch_size"):
        DomainSampler({"a": [0]}, Uniform(["a"]), 0)


def test_sampler_works_as_dataloader_batch_sampler():
    ds = torch.utils.data.TensorDataset(torch.arange(10))
    s = DomainSampler({"a": range(5), "b": range(5, 10)}, Uniform(["a", "b"]), 4)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_sampler=s)))
    assert batch[0].shape == (4,)


# ---------------------------------------------------------------- baselines
def test_uniform_natural_static():
    np.testing.assert_allclose(Uniform(DOMS).weights(), 0.25)
    nat = Natural({"a": 1, "b": 3})
    assert nat.domains == ["a", "b"]
    np.testing.assert_allclose(nat.weights(), [0.25, 0.75])
    np.testing.assert_allclose(Static({"a": 2.0, "b": 0.0, "c": 2.0}).weights(), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(Static([1, 3], domains=["x", "y"]).weights(), [0.25, 0.75])


@pytest.mark.parametrize("weights, match", [
    ({"a": 1.0, "b": -0.1}, "'b'.*>= 0"),
    ({"a": float("nan"), "b": 1.0}, "'a'.*finite"),
    ({"a": 1.0, "b": float("inf")}, "'b'.*finite"),
    ({"a": 0.0, "b": 0.0}, "sum to 0"),
    ({"a": "lots", "b": 1.0}, "'a'.*number"),
    ({}, "empty"),
])
def test_static_validation(weights, match):
    with pytest.raises(InputError, match=match):
        Static(weights)


def test_static_state_round_trip():
    s = Static({"a": 1.0, "b": 3.0})
    t = Static({"a": 1.0, "b": 1.0})
    t.load_state_dict(json.loads(json.dumps(s.state_dict())))
    np.testing.assert_allclose(t.weights(), [0.25, 0.75])


def test_importance_sampling_known_answer():
    dom = {"x": np.array([[1.0, 0.0], [2.0, 0.1]]), "y": np.array([[0.0, 1.0]]), "z": np.array([[-1.0, 0.0]])}
    target = np.array([[5.0, 0.2], [0.1, 3.0], [1.0, -0.1], [0.3, 0.2]])  # x, y, x, x
    w = ImportanceSampling.from_embeddings(dom, target).weights()
    np.testing.assert_allclose(w, [0.75, 0.25, 0.0])
    with pytest.raises(InputError, match="'y'.*no examples"):
        ImportanceSampling.from_embeddings({"x": dom["x"], "y": np.zeros((0, 2))}, target)
    with pytest.raises(InputError, match="dimension"):
        ImportanceSampling.from_embeddings({"x": np.ones((2, 3))}, target)


def test_doremi_clips_each_token_two_token_example():
    # domain a: two tokens with excess +2 and -2 -> lambda = mean(max(2, 0), max(-2, 0)) = 1 (clipping the mean
    # would give 0); domain b: one token with excess 0 -> lambda = 0
    m = DoReMi(["a", "b"], eta=1.0, smoothing=0.1)
    m.observe(excess={"a": [2.0, -2.0], "b": [0.0]})
    np.testing.assert_allclose(m.scores(), [1.0, 0.0])
    e = math.e
    alpha = 0.9 * np.array([e, 1.0]) / (e + 1) + 0.1 / 2
    np.testing.assert_allclose(m.weights(), alpha)
    np.testing.assert_allclose(m.average_weights(), (np.array([0.5, 0.5]) + alpha) / 2)  # initial weights count once
    # b absent from the next batch: it keeps its last score (0); a's excess is all negative -> 0
    m.observe(excess={"a": [-1.0, -3.0]})
    np.testing.assert_allclose(m.scores(), [0.0, 0.0])
    alpha2 = 0.9 * alpha + 0.1 / 2  # softmax(log alpha) = alpha
    np.testing.assert_allclose(m.weights(), alpha2)
    np.testing.assert_allclose(m.average_weights(), (np.array([0.5, 0.5]) + alpha + alpha2) / 3)
    assert m.n_updates == 2
    with pytest.raises(InputError, match="'zz'"):
        m.observe(excess={"zz": [1.0]})


def test_doremi_unseen_domains_start_at_log_vocab():
    m = DoReMi(["a", "b", "c"], eta=1.0, smoothing=0.0, vocab_size=256)
    m.observe(excess={"a": [0.5]})  # b and c not seen yet: score log 256
    s = np.array([0.5, math.log(256), math.log(256)])
    np.testing.assert_allclose(m.weights(), np.exp(s) / np.exp(s).sum())
    m2 = DoReMi(["a", "b", "c"], eta=1.0, smoothing=0.0, vocab_size=256)
    m2.load_state_dict(json.loads(json.dumps(m.state_dict())))
    np.testing.assert_array_equal(m2.weights(), m.weights())


def test_odm_first_updates_closed_form():
    # k = 3: eps_t = min(1/3, sqrt(ln 3 / (3 t))) = 1/3 until t >= 3 ln 3 (t = 4: sqrt(ln3/12) = 0.3026)
    m = ODM(["a", "b", "c"])
    for t in (1, 2, 3):
        m.observe(domain_losses={"a": 5.0}, step=t)
        np.testing.assert_allclose(m.weights(), 1 / 3)  # pure exploration while eps = 1/k
    R = np.array([3 * 0.5 / (1 / 3), 0.0, 0.0])  # reward/10 divided by pi = 1/3, three times
    np.testing.assert_allclose(m.cumulative_reward(), R)
    m.observe(domain_losses={"a": 5.0}, step=4)
    R[0] += 0.5 / (1 / 3)
    eps4 = math.sqrt(math.log(3) / 12)
    z = np.exp(R / 3 - R.max() / 3)  # softmax with the previous eps = 1/3
    np.testing.assert_allclose(m.weights(), (1 - 3 * eps4) * z / z.sum() + eps4)
    with pytest.raises(InputError, match="increase"):
        m.observe(domain_losses={"a": 1.0}, step=4)


def test_odm_concentrates_on_a_persistently_high_loss_domain():
    # bandit feedback as in the authors' Exp3WeightUpdater (one domain per batch, reward/10 / pi):
    # losses held at {5, 1, 1}; the high-loss domain's probability after 2,000 steps is 0.973 with their
    # update rule (alon-albalak/online-data-mixing @ edbfdadb, megatron/data/data_sampling_utils.py),
    # the value quoted in issue 17; the old EMA-of-loss rule stayed at 0.345.
    rng = np.random.default_rng(0)
    losses = {"hi": 5.0, "lo1": 1.0, "lo2": 1.0}
    names = list(losses)
    m = ODM(names)
    for t in range(1, 2001):
        i = rng.choice(3, p=m.weights())
        m.observe(domain_losses={names[i]: losses[names[i]]}, step=t, batch_size=1)
        assert on_simplex(m.weights(), 3)
    assert abs(m.weights()[0] - 0.973) < 0.005, m.weights()
    # mixed batches of 16 slots: every domain is observed with probability 1 - (1 - pi)^16 ~ 1, the rewards
    # are then nearly plain cumulative losses, and the policy concentrates the same way
    m16 = ODM(names)
    for t in range(1, 2001):
        present = set(rng.choice(3, size=16, p=m16.weights()).tolist())
        m16.observe(domain_losses={names[i]: losses[names[i]] for i in present}, step=t, batch_size=16)
    assert m16.weights()[0] > 0.95, m16.weights()
    m2 = ODM(names)
    m2.load_state_dict(json.loads(json.dumps(m16.state_dict())))
    np.testing.assert_array_equal(m2.weights(), m16.weights())
    m16.observe(domain_losses={"hi": float("nan")}, step=2001, batch_size=16)
    assert on_simplex(m16.weights(), 3)


# ---------------------------------------------------------------- with the datadiet.lm loop
class _Interrupt(Exception):
    pass


def test_dga_with_lm_train_resumes_exactly(tmp_path):
    from datadiet.lm import GPT, ByteTokenizer, GPTConfig, TrainConfig, encode_texts, train
    from datadiet.lm.train import _batch

    tok = ByteTokenizer()
    patterns = ["abab", "xyzxyz", "0123 ", "hello world "]
    texts, doms = [], {}
    for i, p in enumerate(patterns):
        doms[f"d{i}"] = list(range(len(texts), len(texts) + 12))
        texts += [(p * 10)[j: j + 20] for j in range(12)]
    tr = encode_texts(tok, texts, 16)
    tgt = encode_texts(tok, [(patterns[2] * 10)[j + 1: j + 21] for j in range(8)], 16)
    cfg = TrainConfig(steps=30, batch_size=4, warmup=2, eval_every=10, checkpoint_every=10)

    def lm_loss(model, idx):
        x, y, m = _batch(tgt if idx is None else tr, torch.arange(len(tgt)) if idx is None else torch.tensor(idx))
        return model(x, y, m)[1]

    def run(model_seed, directory, stop=None):
        torch.manual_seed(model_seed)
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0))
        mixer = DGA(list(doms), eta=50.0, ema=0.5, update_every=5)
        sampler = DomainSampler(doms, mixer, cfg.batch_size, seed=3)

        def cb(step, info):
            if mixer.due(step):
                rng = np.random.default_rng([9, step])
                probes = {n: rng.choice(rows, 4).tolist() for n, rows in doms.items()}
                mixer.update(compute_alignment(info["model"], lm_loss, probes, None))
            if stop is not None and step == stop:
                raise _Interrupt

        res = train(model, tr, tr, cfg, sampler=sampler, checkpoint_dir=directory, progress=False, callback=cb)
        return res, mixer

    full, m_full = run(0, None)
    with pytest.raises(_Interrupt):
        run(0, tmp_path, stop=15)
    resumed, m_res = run(1, tmp_path)
    assert resumed.final_val_loss == full.final_val_loss
    np.testing.assert_array_equal(m_res.weights(), m_full.weights())
    assert on_simplex(m_full.weights(), 4) and m_full.n_updates == 6


def test_unknown_domain_names_are_clear_errors():
    m = DGA(["a", "b"])
    with pytest.raises(InputError, match="'zz'"):
        m.observe(domain_grads={"zz": np.ones(2)}, target_grad=np.ones(2))
    with pytest.raises(InputError, match="'zz'"):
        m.update({"zz": 1.0})
    with pytest.raises(InputError, match="'zz'"):
        ODM(["a"]).observe(domain_losses={"zz": 1.0})


def test_compute_alignment_matches_manual_gradients_all_scalings():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters())  # betas (0.9, 0.999), eps 1e-8
    xs = {n: (torch.randn(5, 3), torch.rand(5).round()) for n in ["a", "b", "t"]}

    def grad(b):
        model.zero_grad()
        _bce(model, b).backward()
        return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).double()

    g0 = grad(xs["t"])
    opt.step()  # one Adam step: v = (1 - 0.999) g0^2, so the bias-corrected v_hat = g0^2 and D = 1 / (|g0| + eps)
    D = 1.0 / (g0.abs() + 1e-8)
    np.testing.assert_allclose(adam_preconditioner(opt, list(model.parameters())).numpy(), D.numpy(), rtol=1e-5)
    g = {n: grad(b) for n, b in xs.items()}
    doms = {"a": xs["a"], "b": xs["b"]}
    for scaling in ["raw", "normalized", "adam"]:
        got = compute_alignment(model, _bce, doms, xs["t"], scaling=scaling, optimizer=opt)
        for n in doms:
            if scaling == "raw":
                ref = float(g[n] @ g["t"])
            else:
                u = g[n] * D if scaling == "adam" else g[n]
                ref = float(u @ g["t"] / (u.norm() * g["t"].norm()))
            assert got[n] == pytest.approx(ref, rel=1e-5), (scaling, n)
