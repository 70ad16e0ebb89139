"""uniformity-lm (fine-tuning a pretrained base model) and its from-scratch control: known answers and a quick run."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch")

from datadiet.experiments import uniformity_lm as ul  # noqa: E402
from datadiet.experiments import uniformity_lm_scratch as scratch  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402

CONTRACT = ("steps_to_target_uniform", "steps_to_target_random", "speedup_pct", "final_val_loss_full",
            "final_val_loss_uniform", "final_val_loss_random", "final_train_loss_uniform", "final_train_loss_random",
            "h_min_uniform", "h_min_random")


def test_train_curve_steps_and_seconds():
    losses = [6, 4, 5, 3, 2, 2, 1]
    assert ul.train_curve(losses, 3) == [[3.0, 5.0], [6.0, 7 / 3], [7.0, 5 / 3]]  # the last: a trailing window
    curve = [[0, 8.0], [10, 6.0], [20, 4.0], [30, 3.5]]
    assert ul.steps_to_reach(curve, 5.0) == pytest.approx(15.0)
    assert ul.steps_to_reach(curve, 3.5) == 30.0 and ul.steps_to_reach(curve, 3.0) is None
    assert ul.steps_to_reach(curve, 9.0) == 0.0
    assert ul.seconds_at([1.0, 2.0, 4.0], 2.5) == pytest.approx(3.0)  # halfway through update 3
    assert ul._speedup(30.0, 40.0) == pytest.approx(25.0) and ul._speedup(3.0, 0.0) is None


@pytest.mark.parametrize("d", [[1.0, 2.0, 3.0], [5.0, -1.0, 2.0], [-2.0, -1.0, -4.0]])
def test_paired_t_test_matches_the_closed_form_for_two_degrees_of_freedom(d):
    # Student t with 2 d.o.f.: P(T > t) = 1/2 - t / (2 sqrt(2 + t^2))
    d = np.array(d)
    t_want = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    t, p = ul.paired_t_test(d)
    assert t == pytest.approx(t_want, rel=1e-12)
    assert p == pytest.approx(0.5 - t_want / (2 * math.sqrt(2 + t_want ** 2)), rel=1e-9)
    assert ul.paired_t_test([2.0, 2.0]) == (math.inf, 0.0) and math.isnan(ul.paired_t_test([1.0])[1])


def _fake_run(u_drop_at: int | None, u_val: float, f_val: float, steps: int = 12):
    """Train losses: R falls linearly 5 -> 3.9; U reaches 3.5 at update `u_drop_at` (or never falls)."""
    r_losses = list(np.linspace(5.0, 3.9, steps))
    u_losses = [5.0] * steps if u_drop_at is None else [5.0] * (u_drop_at - 1) + [3.5] * (steps - u_drop_at + 1)

    def arm(losses, val):
        return {"rows": 5, "train_losses": losses, "train_seconds": list(np.arange(1, steps + 1) * 0.5),
                "val": [[0, 6.0, 0.1], [6, 5.0, 0.2], [12, val, 0.3]], "final_val_loss": val, "min_val_loss": val,
                "final_val_accuracy": 0.3}

    arms = {"adamw/full": arm(r_losses, f_val), "adamw/uniform-word2vec": arm(u_losses, u_val),
            "adamw/random": arm(r_losses, 4.0)}
    run = {"arms": arms, "n_pool": 10, "k": 5, "n_val": 3, "n_parameters": 1, "start_val_loss": 6.0,
           "start_val_accuracy": 0.1}
    for key in ("uniform-word2vec", "random", "dedup-random", "uniform-static", "random-static"):
        run[f"h_min[{key}]"] = 0.3 if "uniform" in key else 0.0
        run[f"covering_radius[{key}]"] = 0.5
    return run


def test_check_rule_on_made_up_runs(tmp_path):
    cfg = ul.Config(steps=12, log_every=3, eval_every=6, arms=("adamw/full", "adamw/uniform-word2vec", "adamw/random"))
    # R's final training loss = mean of its last 3 losses; U is below it from update 6, 7, 8 on
    runs = [_fake_run(6 + s, 4.02, 4.0) for s in range(3)]
    v = ul.check(cfg, runs, tmp_path)
    assert v.held, v.rule
    r_target = float(np.mean(np.linspace(5.0, 3.9, 12)[-3:]))
    assert v.metrics["final_train_loss_random"]["mean"] == pytest.approx(r_target)
    assert v.metrics["steps_to_target_random"]["mean"] == pytest.approx(12.0)
    assert v.metrics["steps_to_target_uniform"]["mean"] < 12.0 and v.metrics["speedup_pct"]["mean"] > 0
    assert v.metrics["relative_gap_uniform_vs_full"]["mean"] == pytest.approx(0.005)
    for key in CONTRACT:
        assert key in v.metrics, key
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in v.figures)
    # U never reaches the target: counted as twice the budget, and the rule fails
    v = ul.check(cfg, [_fake_run(None, 4.0, 4.0) for _ in range(3)], tmp_path)
    assert not v.held and v.metrics["steps_to_target_uniform"]["mean"] == 24.0
    assert v.metrics["reached_target_uniform"]["mean"] == 0.0
    # U faster but 5% worse than F on validation: not comparable
    assert not ul.check(cfg, [_fake_run(6 + s, 4.2, 4.0) for s in range(3)], tmp_path).held
    # one seed: no test possible, never held
    assert not ul.check(cfg, [_fake_run(6, 4.0, 4.0)], tmp_path).held


def test_fixed_validation_target_in_steps_and_seconds(tmp_path):
    """val = 6.0 at step 0, 5.0 at step 6, then U 4.02 / R 4.0 at step 12: a fixed target of 4.5 is reached
    at step 6 + 6 * 0.5 / 0.98 (U) and 6 + 6 * 0.5 / 1.0 = 9 (R); training seconds are 0.5 per update."""
    cfg = ul.Config(steps=12, log_every=3, eval_every=6, val_target=4.5,
                    arms=("adamw/full", "adamw/uniform-word2vec", "adamw/random"))
    v = ul.check(cfg, [_fake_run(6, 4.02, 4.0) for _ in range(3)], tmp_path)
    u_steps = 6 + 6 * 0.5 / 0.98
    assert v.metrics["steps_to_val_loss_uniform"]["mean"] == pytest.approx(u_steps)
    assert v.metrics["steps_to_val_loss_random"]["mean"] == pytest.approx(9.0)
    assert v.metrics["seconds_to_val_loss_uniform"]["mean"] == pytest.approx(0.5 * u_steps)
    assert v.metrics["reached_val_loss_random"]["mean"] == 1.0
    # out of reach: twice the budget in steps and twice the training seconds
    v = ul.check(replace(cfg, val_target=3.0), [_fake_run(6, 4.02, 4.0) for _ in range(3)], tmp_path)
    assert v.metrics["steps_to_val_loss_uniform"]["mean"] == 24.0
    assert v.metrics["seconds_to_val_loss_uniform"]["mean"] == pytest.approx(12.0)
    # default: R's mean final validation loss (4.0), which U (4.02) never reaches and R reaches at its end
    v = ul.check(replace(cfg, val_target=None), [_fake_run(6, 4.02, 4.0)] * 3, tmp_path)
    assert v.details["val_target"] == pytest.approx(4.0)
    assert v.metrics["steps_to_val_loss_uniform"]["mean"] == 24.0 and v.metrics["steps_to_val_loss_random"]["mean"] == 12.0


def test_subsets_are_halves_uniform_has_no_duplicates_and_random_moves_with_seed():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 5)).astype(np.float32)
    X = np.concatenate([base, base[:6]])  # rows 30..35 duplicate rows 0..5
    distinct = np.arange(30)
    a = ul.subsets(36, 18, {"word2vec": X, "static": X[:, ::-1].copy()}, distinct, seed=0)
    b = ul.subsets(36, 18, {"word2vec": X, "static": X[:, ::-1].copy()}, distinct, seed=1)
    for name, idx in a.items():
        assert len(np.unique(idx)) == len(idx) == (36 if name == "full" else 18)
    for name in ("uniform-word2vec", "uniform-static", "dedup-random"):
        rows = {tuple(X[i]) for i in a[name]}
        assert len(rows) == 18, name  # no two picks share a vector
    assert set(a["dedup-random"]) <= set(distinct)
    assert not np.array_equal(a["random"], b["random"]) and not np.array_equal(a["dedup-random"], b["dedup-random"])


def test_quick_reproduction_is_well_formed(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))
    seen = []
    with ul.progress(lambda label, step, steps: seen.append((label, step, steps))):
        res = reproduce("uniformity-lm", seeds=2, quick=True, out_dir=tmp_path / "out")
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    assert data["name"] == "uniformity-lm" and data["seeds"] == [0, 1]
    assert data["config"]["pretrained"] is True and len(data["config"]["base_model_sha256"]) == 64
    for key in CONTRACT:
        assert data["metrics"][key]["n"] == 2, key
    for fig in data["figures"]:
        assert (tmp_path / "out" / fig).read_bytes()[:4] == b"\x89PNG"
    # max-min on word2vec: larger h_min than the random half on the same embedding, by construction
    assert data["metrics"]["h_min_uniform"]["mean"] > data["metrics"]["h_min_random"]["mean"]
    st = res.details["sft_tokens"]["train"]
    assert st["response_tokens_kept"] + st["response_tokens_dropped"] == st["response_tokens"]
    # every training run reported progress, step by step
    assert len(seen) == 2 * len(ul.QUICK.arms) * ul.QUICK.steps and seen[-1][1:] == (ul.QUICK.steps, ul.QUICK.steps)


def test_scratch_control_keeps_its_rule():
    curve = [[0, 8.0], [10, 6.0], [20, 4.0]]
    assert scratch.steps_to_reach(curve, 5.0) == pytest.approx(15.0)
    assert scratch.NAME == "uniformity-lm-scratch" and "not the paper's regime" in scratch.CLAIM.lower()


def test_a_fresh_machine_gets_the_default_corpus_built_before_pretraining(tmp_path, monkeypatch):
    """`reproduce all` on a fresh clone: the pretrained arm's base model reads the built corpus; with none
    built, the experiment builds it with `datadiet corpus build`'s defaults (once), instead of failing."""
    import datadiet.corpus as corpus

    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path))
    calls = []

    def fake_build(out_dir=None, **kw):
        calls.append((out_dir, kw))
        (tmp_path / "corpus").mkdir(exist_ok=True)
        (tmp_path / "corpus" / "manifest.json").write_text(json.dumps({"domains": []}), encoding="utf-8")

    monkeypatch.setattr(corpus, "build_corpus", fake_build)
    base = ul.Config().base
    assert base.corpus_cap_bytes is None
    ul.ensure_corpus(base)
    ul.ensure_corpus(base)
    assert calls == [(None, {})]                                # built once, then read
    ul.ensure_corpus(replace(base, corpus_cap_bytes=1000))     # a capped corpus is pretrain's own business
    assert len(calls) == 1
