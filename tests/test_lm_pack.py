"""datadiet.lm data pieces: document packing, the SFT truncation policy, the l2 loss, the transformers model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datadiet.errors import InputError
from datadiet.lm import ByteTokenizer, Examples, GPTConfig, TrainConfig, pack_documents, pack_texts, train
from datadiet.lm.data import encode_sft
from datadiet.lm.train import evaluate_metrics, l2_loss


def _oracle_windows(docs, context, eos, drop_last, pad):
    """Brute force: a Python list stream, windows by explicit slicing from every multiple of context."""
    stream = []
    for d in docs:
        stream += list(d) + [eos]
    out = []
    start = 0
    while start + context + 1 <= len(stream):
        out.append(stream[start:start + context + 1])
        start += context
    covered = start + 1 if out else 0
    if not drop_last and covered < len(stream):
        tail = stream[start:] if out else stream
        out.append(tail + [pad] * (context + 1 - len(tail)))
    return out, len(stream)


@pytest.mark.parametrize("drop_last", [True, False])
@pytest.mark.parametrize("context", [1, 3, 7, 16])
def test_pack_documents_matches_brute_force(context, drop_last):
    rng = np.random.default_rng(context)
    docs = [rng.integers(0, 50, size=rng.integers(0, 12)).tolist() for _ in range(9)]
    windows, st = pack_documents(docs, context, drop_last=drop_last, eos_id=99, pad_id=98)
    want, n = _oracle_windows(docs, context, 99, drop_last, 98)
    assert windows.dtype == np.int64 and windows.shape == (len(want), context + 1)
    assert windows.tolist() == want
    assert st["tokens"] == n == sum(len(d) + 1 for d in docs) and st["documents"] == 9
    assert st["tokens_seen"] + st["tokens_dropped"] == st["tokens"]
    if drop_last:
        assert st["tokens_dropped"] < context + 1 and st["tokens_padded"] == 0
        # every stream token after the first is a target exactly once
        assert st["targets"] == len(want) * context
    else:
        assert st["tokens_dropped"] == 0
        assert (windows == 98).sum() == st["tokens_padded"]


def test_pack_documents_keeps_whole_documents_and_eos_between():
    docs = [[1, 2, 3], [4, 5], [6]]
    w, st = pack_documents(docs, 3, eos_id=0)
    assert w.tolist() == [[1, 2, 3, 0], [0, 4, 5, 0]]  # consecutive windows share one token
    assert (st["tokens"], st["tokens_seen"], st["tokens_dropped"], st["targets"]) == (9, 7, 2, 6)
    w, st = pack_documents(docs, 3, eos_id=None)
    assert w.tolist() == [[1, 2, 3, 4]] and st["tokens"] == 6 and st["tokens_dropped"] == 2  # 5, 6 fill no window
    w, st = pack_documents([], 4)
    assert w.shape == (0, 5) and st["tokens"] == 0


def test_pack_texts_masks_padding_only():
    tok = ByteTokenizer()
    ex, st = pack_texts(tok, ["abcd", "ef"], 3, drop_last=False)
    assert ex.tokens.tolist() == [[97, 98, 99, 100], [100, 256, 101, 102], [102, 256, 257, 257]]
    assert ex.mask.tolist() == [[1, 1, 1], [1, 1, 1], [1, 0, 0]]
    assert ex.n_target_tokens() == st["targets"] == 7


@pytest.mark.parametrize("bad, match", [
    ("not a list", "not a string"),
    ([[1, 2], [[3]]], "document 1"),
    ([[1, -2]], "document 0: token ids must be >= 0"),
    ([[1.5]], "document 0"),
])
def test_pack_documents_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        pack_documents(bad, 4)
    with pytest.raises(InputError, match="context"):
        pack_documents([[1]], 0)


def test_encode_sft_truncation_policy_and_counts():
    tok = ByteTokenizer()
    recs = [{"instruction": "abcdefgh", "output": "xyz"}, {"instruction": "a", "output": "0123456789"},
            {"instruction": "", "output": ""}]
    ex, st = encode_sft(tok, recs, 12, max_prompt_tokens=4, template="{instruction}|")
    eos = tok.eos_id
    # prompt keeps its end ("fgh|"), response its start; the mask covers exactly the kept response (+ eos)
    assert ex.tokens[0, :8].tolist() == list(b"fgh|xyz") + [eos]
    assert ex.mask[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert ex.tokens[1].tolist() == list(b"a|0123456789") + [eos]
    assert ex.mask[1].tolist() == [0] + [1] * 11
    assert ex.mask[2].tolist() == [1] + [0] * 11  # "|" predicts eos
    assert st == {"records": 3, "prompt_tokens": 9 + 2 + 1, "prompt_tokens_dropped": 5, "response_tokens": 4 + 11 + 1,
                  "response_tokens_dropped": 0, "response_tokens_kept": 16, "rows_truncated": 1}
    assert ex.n_target_tokens() == st["response_tokens_kept"]
    ex, st = encode_sft(tok, [{"instruction": "ab", "output": "0123456789"}], 6, max_prompt_tokens=2,
                        template="{instruction}")
    assert ex.tokens[0].tolist() == list(b"ab01234") and st["response_tokens_dropped"] == 11 - 5
    with pytest.raises(InputError, match="record 0 has no field 'output'"):
        encode_sft(tok, [{"instruction": "a"}], 8)
    with pytest.raises(InputError, match="max_prompt_tokens"):
        encode_sft(tok, recs, 8, max_prompt_tokens=9)


def test_l2_loss_is_the_papers_mse_on_raw_logits():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 11, generator=g)
    y = torch.randint(0, 11, (2, 5), generator=g)
    y[0, 1] = -100
    m = torch.tensor([[1, 1, 0, 1, 1], [0, 1, 1, 1, 1]], dtype=torch.float32)
    # oracle: nn.MSELoss (mean over every element) between the selected logits and the one-hot labels
    keep = (y != -100) & (m > 0)
    want = F.mse_loss(logits[keep], F.one_hot(y[keep], 11).float())
    assert float(l2_loss(logits, y, m)) == pytest.approx(float(want), rel=1e-6)
    assert float(l2_loss(logits, y)) == pytest.approx(
        float(F.mse_loss(logits[y != -100], F.one_hot(y[y != -100], 11).float())), rel=1e-6)


def test_hfgpt_loss_equals_transformers_own_and_saves_loadable(tmp_path):
    transformers = pytest.importorskip("transformers")
    from datadiet.lm import train_tokenizer
    from datadiet.lm.hf import HFGPT, load_pretrained, save_pretrained, weights_sha256

    tok = train_tokenizer(["hello world, the quick brown fox"] * 20 + ["def f(x): return x"] * 20, 300)
    torch.manual_seed(0)
    model = HFGPT(GPTConfig(tok.vocab_size, 16, 1, 2, 16), eos_id=tok.eos_id, pad_id=tok.pad_id).eval()
    ids = torch.randint(0, tok.vocab_size, (3, 10))
    mask = (torch.rand(3, 9) > 0.3).float()
    _, loss = model(ids[:, :-1], ids[:, 1:], mask)
    # transformers' own loss on the full ids: labels -100 where not counted; it shifts them itself
    labels = torch.where(mask > 0, ids[:, 1:], torch.full_like(ids[:, 1:], -100))
    want = model.hf(input_ids=ids, labels=torch.cat([torch.full((3, 1), -100), labels], 1)).loss
    assert float(loss.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    folder = save_pretrained(model, tmp_path / "m", tok)
    auto = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    atok = transformers.AutoTokenizer.from_pretrained(folder)
    assert atok("hello world").input_ids == tok.encode("hello world")
    assert atok.eos_token_id == tok.eos_id and atok.pad_token_id == tok.pad_id
    with torch.no_grad():
        assert torch.equal(auto(input_ids=ids).logits, model.hf(input_ids=ids).logits)
        assert torch.equal(load_pretrained(folder)(ids)[0], model(ids)[0])
    assert len(weights_sha256(folder)) == 64
    with pytest.raises(InputError, match="not a datadiet base model"):
        load_pretrained(tmp_path)


def test_sgd_l2_training_lowers_its_loss_and_accuracy_is_counted():
    from datadiet.lm.hf import HFGPT

    tok = ByteTokenizer()
    ex, _ = pack_texts(tok, ["abcabcabcabc" * 4] * 8, 8)
    torch.manual_seed(0)
    model = HFGPT(GPTConfig(tok.vocab_size, 8, 1, 2, 16))
    res = train(model, ex, ex, TrainConfig(steps=40, batch_size=8, lr=5.0, warmup=0, schedule="constant",
                                           weight_decay=0.0, optimizer="sgd", loss="l2", eval_every=0),
                progress=False)
    assert len(res.train_losses) == 40 and len(res.train_seconds) == 40
    assert all(b >= a for a, b in zip(res.train_seconds, res.train_seconds[1:]))
    assert np.mean(res.train_losses[-5:]) < 0.8 * np.mean(res.train_losses[:5])
    ev = evaluate_metrics(model, ex)
    # oracle for accuracy: argmax over logits, counted over the mask, by hand
    with torch.no_grad():
        logits, _ = model(ex.tokens[:, :-1])
    hits = ((logits.argmax(-1) == ex.tokens[:, 1:]).float() * ex.mask).sum() / ex.mask.sum()
    assert ev["accuracy"] == pytest.approx(float(hits), abs=1e-6) and ev["targets"] == ex.n_target_tokens()
    assert math.isfinite(ev["loss"])
    with pytest.raises(InputError, match="optimizer"):
        TrainConfig(optimizer="adam")
    with pytest.raises(InputError, match="loss"):
        TrainConfig(loss="mse")
