"""DGACallback + MixTrainer on a tiny GPT-2 built from its config (no download), CPU.

Rerun: ``pytest tests/test_mix_hf.py -q``.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments  # noqa: E402

from datadiet.errors import InputError  # noqa: E402
from datadiet.mix import DGA, Uniform  # noqa: E402
from datadiet.mix.hf import STATE_FILE, DGACallback, MixTrainer  # noqa: E402
from datadiet.mix.sampler import DomainSampler  # noqa: E402

DOMAINS = ["low", "mid", "high"]
SEQ = 16


def _domain_tokens(d: int, n: int, seed: int) -> torch.Tensor:
    """Domain d: tokens from its own third of a 64-token vocabulary, counting up mod 21."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, 21, (n, 1), generator=g)
    return (start + torch.arange(SEQ)) % 21 + 21 * d


class ToyDataset(torch.utils.data.Dataset):
    def __init__(self, ids: torch.Tensor):
        self.ids = ids

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def _batch(ids: torch.Tensor) -> dict:
    return {"input_ids": ids, "labels": ids.clone()}


def test_dga_callback_updates_logs_and_saves(tmp_path, caplog):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32))
    parts = [_domain_tokens(d, 40, seed=d) for d in range(3)]
    ds = ToyDataset(torch.cat(parts))
    indices = {name: list(range(40 * d, 40 * (d + 1))) for d, name in enumerate(DOMAINS)}
    mixer = DGA(DOMAINS, eta=5.0, ema=0.5, update_every=4, scaling="normalized")
    sampler = DomainSampler(indices, mixer, batch_size=8, seed=0)
    probes = {name: _batch(_domain_tokens(d, 4, seed=100 + d)) for d, name in enumerate(DOMAINS)}
    target = _batch(_domain_tokens(2, 4, seed=200))  # the target is held-out data of "high"
    cb = DGACallback(mixer, sampler, probes, target)  # domain gradients from the batches, probes unused
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=20, learning_rate=1e-3, logging_steps=5,
                             save_steps=10, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    trainer = MixTrainer(model=model, args=args, train_dataset=ds, domain_sampler=sampler, callbacks=[cb])
    with caplog.at_level(logging.INFO, logger="datadiet.mix.hf"):
        trainer.train()

    assert cb.n_updates == 5 and mixer.n_updates == 5  # steps 4, 8, ..., 20
    w = mixer.weights()
    assert np.all(w >= 0) and abs(w.sum() - 1) < 1e-12
    assert w[2] == w.max() and w[2] > 1 / 3  # moved toward the target's domain
    assert sampler.batches_drawn >= 20
    logged = [h for h in trainer.state.log_history if "mix/alpha/high" in h]
    assert logged, trainer.state.log_history
    assert abs(sum(logged[-1][f"mix/alpha/{d}"] for d in DOMAINS) - 1) < 1e-9
    assert "DGA alpha" in caplog.text

    path = tmp_path / "checkpoint-20" / STATE_FILE
    assert (tmp_path / "checkpoint-10" / STATE_FILE).exists() and path.exists()
    saved = json.loads(path.read_text())
    assert saved["n_updates"] == 5 and len(saved["history"]) == 5
    m2 = DGA(DOMAINS, eta=5.0, ema=0.5, update_every=4, scaling="normalized")
    s2 = DomainSampler(indices, m2, batch_size=8, seed=0)
    cb2 = DGACallback(m2, s2, probes, target)
    cb2.load(str(tmp_path / "checkpoint-20"))
    assert np.array_equal(m2.weights(), mixer.weights())
    assert cb2.n_updates == 5 and s2.batches_drawn == saved["sampler"]["batches_drawn"]
    assert json.loads(json.dumps(cb2.state_dict())) == saved


def test_callback_checks_its_inputs(tmp_path):
    m = DGA(DOMAINS)
    s = DomainSampler({d: [0] for d in DOMAINS}, m, batch_size=2)
    b = _batch(_domain_tokens(0, 2, 0))
    with pytest.raises(InputError, match="unknown domain 'nope'"):
        DGACallback(m, s, {"nope": b}, b)
    with pytest.raises(InputError, match="empty"):
        DGACallback(m, s, {}, b)
    with pytest.raises(InputError, match="update"):
        DGACallback(Uniform(DOMAINS), s, {"low": b}, b)
    with pytest.raises(InputError, match="update_every"):
        DGACallback(m, s, {"low": b}, b, update_every=0)
    with pytest.raises(InputError, match="no datadiet_mix.json"):
        DGACallback(m, s, {"low": b}, b).load(str(tmp_path))


def _setup(tmp_path, mixer, *, steps, ga=1, save_steps=None, callbacks=None, seed=0):
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=32,
                                       resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    ds = ToyDataset(torch.cat([_domain_tokens(d, 40, seed=d) for d in range(3)]))
    indices = {name: list(range(40 * d, 40 * (d + 1))) for d, name in enumerate(DOMAINS)}
    sampler = DomainSampler(indices, mixer, batch_size=6, seed=seed)
    drawn = []
    real = sampler.next_batch

    def logged():
        b = real()
        drawn.append(b)
        return b

    sampler.next_batch = logged
    cbs = [cb(mixer, sampler) for cb in (callbacks or [])]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=steps, learning_rate=1e-3, logging_steps=100,
                             save_steps=save_steps or 10_000, save_strategy="steps" if save_steps else "no",
                             gradient_accumulation_steps=ga, report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    trainer = MixTrainer(model=model, args=args, train_dataset=ds, domain_sampler=sampler, callbacks=cbs)
    return trainer, drawn, cbs


def _target_cb(mixer, sampler):
    return DGACallback(mixer, sampler, target_batch=_batch(_domain_tokens(2, 4, seed=200)))


def test_split_step_gradient_equals_the_usual_one(tmp_path):
    # with eta = 0 DGA never moves; its update steps split each micro-batch by domain, and the trained
    # model must equal the one trained without any callback (the parts sum to the full gradient)
    t1, _, _ = _setup(tmp_path / "a", Uniform(DOMAINS), steps=6, ga=2)
    t1.train()
    mixer = DGA(DOMAINS, eta=0.0, update_every=2)
    t2, _, cbs = _setup(tmp_path / "b", mixer, steps=6, ga=2, callbacks=[_target_cb])
    t2.train()
    assert cbs[0].n_updates == 3 and all(h["measured"] for h in cbs[0].history)
    for p1, p2 in zip(t1.model.parameters(), t2.model.parameters()):
        torch.testing.assert_close(p1, p2, rtol=1e-4, atol=1e-6)


def test_resume_with_gradient_accumulation_draws_the_same_batches(tmp_path):
    mixer = DGA(DOMAINS, eta=5.0, ema=0.5, update_every=2)
    full, drawn_full, _ = _setup(tmp_path / "full", mixer, steps=6, ga=2, save_steps=3, callbacks=[_target_cb])
    full.train()
    assert len(drawn_full) == 12  # 6 optimizer steps x 2 micro-batches
    mixer2 = DGA(DOMAINS, eta=5.0, ema=0.5, update_every=2)
    resumed, drawn_res, cbs = _setup(tmp_path / "full", mixer2, steps=6, ga=2, save_steps=3,
                                     callbacks=[_target_cb])
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-3"))
    assert drawn_res == drawn_full[6:]  # exactly the uninterrupted run's remaining batches
    np.testing.assert_allclose(mixer2.weights(), mixer.weights(), rtol=1e-6)
    assert cbs[0].n_updates == 3
