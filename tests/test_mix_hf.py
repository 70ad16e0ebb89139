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
    cb = DGACallback(mixer, sampler, probes, target)
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
