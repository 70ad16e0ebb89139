"""datadiet.lm: tokenizers, the tiny GPT, examples with loss masks, and the seeded resumable training loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from datadiet.errors import InputError
from datadiet.lm import (
    GPT,
    ByteTokenizer,
    Examples,
    GPTConfig,
    RandomBatchSampler,
    Tokenizer,
    TrainConfig,
    encode_instructions,
    encode_texts,
    evaluate,
    load_tokenizer,
    lr_at,
    pick_device,
    train,
    train_tokenizer,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b\n",
    "Write a haiku about autumn leaves falling slowly.",
    "  leading spaces and\ttabs\tand trailing   ",
    "Unicode: café, naïve, 日本語のテキスト, 中文字符, emoji 😀🎉👍🏽",
    "Summarize the following paragraph in one sentence please.",
] * 20

TRICKY = [
    "",
    " ",
    "  two leading spaces",
    "tabs\tand\nnewlines\r\n\n",
    "emoji 😀🎉 family 👨‍👩‍👧‍👦 flag 🇯🇵",
    "中文 日本語 한국어 العربية",
    "\u0000 control \u001f chars \u200b zero width",
    "literal <|eos|> and <|pad|> in text",
    "never-seen-in-training: Ωμέγα ∮ ∞ ≠",
]


@pytest.fixture(scope="module")
def bpe() -> Tokenizer:
    return train_tokenizer(CORPUS, vocab_size=400)


# ---------------------------------------------------------------- tokenizers

@pytest.mark.parametrize("kind", ["bpe", "byte"])
def test_tokenizer_round_trip_and_save_load(kind, bpe, tmp_path):
    tok = bpe if kind == "bpe" else ByteTokenizer()
    for s in TRICKY + CORPUS[:6]:
        ids = tok.encode(s)
        assert all(0 <= i < tok.vocab_size for i in ids)
        assert tok.eos_id not in ids and tok.pad_id not in ids  # a literal "<|eos|>" is not the eos token
        assert tok.decode(ids) == s
    assert tok.encode_batch(TRICKY) == [tok.encode(s) for s in TRICKY]
    assert tok.decode([tok.eos_id]) == "<|eos|>" and tok.decode([tok.pad_id]) == "<|pad|>"
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert type(loaded) is type(tok)
    assert (loaded.vocab_size, loaded.eos_id, loaded.pad_id) == (tok.vocab_size, tok.eos_id, tok.pad_id)
    for s in TRICKY:
        assert loaded.encode(s) == tok.encode(s)
        assert loaded.decode(loaded.encode(s)) == s


def test_bpe_compresses_and_is_deterministic(bpe):
    again = train_tokenizer(list(CORPUS), vocab_size=400)
    assert again._tok.to_str() == bpe._tok.to_str()
    text = CORPUS[0]
    assert len(bpe.encode(text)) < len(text.encode("utf-8")) / 2  # merges learned
    assert 258 < bpe.vocab_size <= 400


def test_tokenizer_bad_input(tmp_path):
    with pytest.raises(InputError, match="vocab_size"):
        train_tokenizer(CORPUS, vocab_size=100)
    with pytest.raises(InputError, match="non-empty"):
        train_tokenizer(["", ""], vocab_size=300)
    with pytest.raises(InputError, match="no such"):
        load_tokenizer(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not a tokenizer"):
        load_tokenizer(tmp_path / "bad.json")


def test_tokenizer_pickles(bpe):
    import pickle

    back = pickle.loads(pickle.dumps(bpe))
    assert back.encode(TRICKY[4]) == bpe.encode(TRICKY[4]) and back.eos_id == bpe.eos_id


# ---------------------------------------------------------------- examples

@pytest.mark.parametrize("kind", ["bpe", "byte"])
def test_encode_instructions_masks_exactly_the_response(kind, bpe):
    tok = bpe if kind == "bpe" else ByteTokenizer()
    rec = {"instruction": "Say hi in Japanese", "output": "こんにちは 👋"}
    ex = encode_instructions(tok, [rec], context=64)
    assert ex.tokens.shape == (1, 65) and ex.mask.shape == (1, 64) and ex.tokens.dtype == torch.int64
    targets = ex.tokens[0, 1:]
    counted = targets[ex.mask[0] == 1].tolist()
    assert tok.decode(counted) == rec["output"] + "<|eos|>"
    # the counted targets are contiguous and start right after the prompt
    n_prompt = len(tok.encode(rec["instruction"] + "\n"))
    pos = (ex.mask[0] == 1).nonzero().flatten().tolist()
    assert pos == list(range(n_prompt - 1, n_prompt - 1 + len(counted)))
    n_real = n_prompt + len(counted)
    assert (ex.tokens[0, n_real:] == tok.pad_id).all() and tok.decode(ex.tokens[0, :n_real]) == (
        rec["instruction"] + "\n" + rec["output"] + "<|eos|>")


def test_encode_instructions_truncates_keeping_the_start():
    tok = ByteTokenizer()
    recs = [{"q": "abc", "a": "defghijklmnop"}, {"q": "x" * 50, "a": "never seen"}]
    ex = encode_instructions(tok, recs, context=8, instruction_key="q", response_key="a")
    assert tok.decode(ex.tokens[0]) == "abc\ndefgh"  # context + 1 = 9 tokens, start kept
    assert ex.mask[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]  # targets d e f g h (positions 3..7)
    assert ex.mask[1].sum() == 0  # instruction fills the window: nothing to learn
    assert len(ex.subset([1, 0, 1])) == 3 and torch.equal(ex.subset([1]).tokens, ex.tokens[1:2])
    with pytest.raises(InputError, match="record 0 has no field 'instruction'"):
        encode_instructions(tok, recs, context=8)
    with pytest.raises(InputError, match="subset indices"):
        ex.subset([2])


def test_encode_texts_masks_all_real_tokens():
    tok = ByteTokenizer()
    ex = encode_texts(tok, ["ab", "abcdefghij"], context=4)
    assert ex.tokens[0].tolist() == [97, 98, 256, 257, 257]
    assert ex.mask[0].tolist() == [1, 1, 0, 0]  # targets "b", eos
    assert ex.mask[1].tolist() == [1, 1, 1, 1]
    both = Examples.concat([ex, ex.subset([0])])
    assert len(both) == 3 and both.n_target_tokens() == 2 + 4 + 2


# ---------------------------------------------------------------- model

def tiny(vocab=258, context=32, **kw) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, context=context, n_layer=kw.get("n_layer", 1),
                         n_head=2, n_embd=kw.get("n_embd", 32), dropout=kw.get("dropout", 0.0)))


def test_gpt_shapes_causality_and_masked_loss():
    model = tiny().eval()
    idx = torch.randint(0, 258, (2, 10))
    logits, loss = model(idx)
    assert logits.shape == (2, 10, 258) and loss is None
    # causal: changing a later token leaves earlier logits unchanged
    idx2 = idx.clone()
    idx2[:, 7] = (idx2[:, 7] + 1) % 258
    assert torch.allclose(model(idx2)[0][:, :7], logits[:, :7], atol=1e-6)
    targets = torch.randint(0, 258, (2, 10))
    mask = torch.zeros(2, 10)
    mask[0, 3:6] = 1
    mask[1, 0] = 1
    targets_ign = targets.clone()
    targets_ign[0, 4] = -100
    _, loss = model(idx, targets_ign, mask)
    ce = F.cross_entropy(logits.reshape(-1, 258), targets.reshape(-1), reduction="none").view(2, 10)
    expect = (ce[0, 3] + ce[0, 5] + ce[1, 0]) / 3
    assert torch.allclose(loss, expect, atol=1e-5)
    assert model.head.weight is model.wte.weight  # tied
    n = model.num_parameters()
    assert n == sum(p.numel() for p in model.parameters())
    with pytest.raises(InputError, match="context"):
        model(torch.zeros(1, 33, dtype=torch.long))


def test_gpt_init_is_seeded():
    a, b = tiny(), tiny()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert abs(float(a.wte.weight.detach().std()) - 0.02) < 0.002


# ---------------------------------------------------------------- training

def test_evaluate_matches_hand_computation():
    tok = ByteTokenizer()
    ex = encode_instructions(tok, [{"instruction": "hello", "output": "world!"},
                                   {"instruction": "a", "output": "bcdefghijkl"}], context=16)
    model = tiny(context=16)
    model.train()
    got = evaluate(model, ex, batch_size=1)
    assert model.training  # mode restored
    with torch.no_grad():
        model.eval()
        logits, _ = model(ex.tokens[:, :-1])
        ce = F.cross_entropy(logits.reshape(-1, 258).double(), ex.tokens[:, 1:].reshape(-1), reduction="none")
        m = ex.mask.reshape(-1).double()
        expect = float((ce * m).sum() / m.sum())
    assert m.sum() == 7 + 12  # token-weighted: the longer response counts more
    assert got == pytest.approx(expect, rel=1e-5)
    assert evaluate(model, ex, batch_size=64) == pytest.approx(got, rel=1e-6)
    with pytest.raises(InputError, match="no target"):
        evaluate(model, Examples(torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 4)))


def test_lr_schedule():
    c = TrainConfig(steps=100, lr=1e-3, warmup=10, min_lr_ratio=0.1)
    assert lr_at(1, c) == pytest.approx(1e-4)
    assert lr_at(10, c) == pytest.approx(1e-3)
    assert lr_at(55, c) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half way down the cosine
    assert lr_at(100, c) == pytest.approx(1e-4)
    lrs = [lr_at(s, c) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    k = TrainConfig(steps=100, lr=1e-3, warmup=0, schedule="constant")
    assert lr_at(1, k) == lr_at(100, k) == 1e-3
    with pytest.raises(InputError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(InputError, match="steps"):
        TrainConfig(steps=0)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError):
        pick_device("nonsense")


def test_overfits_a_tiny_batch():
    tok = ByteTokenizer()
    recs = [{"instruction": f"Q{i}", "output": text} for i, text in
            enumerate(["the cat sat", "on a mat", "dogs bark loud", "birds sing"])]
    ex = encode_instructions(tok, recs, context=24)
    model = tiny(context=24, n_embd=64)
    cfg = TrainConfig(steps=150, batch_size=4, lr=1e-2, warmup=10, eval_every=50, weight_decay=0.0)
    res = train(model, ex, ex, cfg, progress=False)
    assert [h["step"] for h in res.history] == [0, 50, 100, 150]
    assert res.history[0]["train_loss"] is None and res.history[0]["val_loss"] > 4.0  # ~ln(258) = 5.55
    assert res.history[-1]["train_loss"] < 0.5 and res.final_val_loss < 0.5
    assert res.steps == 150 and res.final_val_loss == res.history[-1]["val_loss"]


def _run_data():
    tok = ByteTokenizer()
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    recs = [{"instruction": " ".join(rng.choice(words, 2)), "output": " ".join(rng.choice(words, 3))}
            for _ in range(30)]
    return encode_instructions(tok, recs[:24], 24), encode_instructions(tok, recs[24:], 24)


def _strip(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_training_is_seeded():
    tr, va = _run_data()
    cfg = TrainConfig(steps=12, batch_size=4, warmup=2, eval_every=4)
    a = train(tiny(context=24, dropout=0.1), tr, va, cfg, progress=False)
    b = train(tiny(context=24, dropout=0.1), tr, va, cfg, progress=False)
    assert _strip(a.history) == _strip(b.history)
    c = train(tiny(context=24, dropout=0.1), tr, va, TrainConfig(steps=12, batch_size=4, warmup=2,
                                                                 eval_every=4, seed=1), progress=False)
    assert _strip(c.history) != _strip(a.history)


class _Interrupt(Exception):
    pass


def test_resume_from_checkpoint_is_exact(tmp_path):
    tr, va = _run_data()
    cfg = TrainConfig(steps=40, batch_size=4, warmup=5, eval_every=10, checkpoint_every=20)
    full = train(tiny(context=24, dropout=0.1), tr, va, cfg, progress=False)

    seen = []

    def crash(step, info):
        seen.append(step)
        if step == 25:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(tiny(context=24, dropout=0.1), tr, va, cfg, checkpoint_dir=tmp_path, progress=False, callback=crash)
    assert (tmp_path / "checkpoint.pt").exists() and seen == list(range(1, 26))
    # a fresh process would rebuild the model with other weights: resuming must not depend on them
    torch.manual_seed(123)
    model = GPT(GPTConfig(vocab_size=258, context=24, n_layer=1, n_head=2, n_embd=32, dropout=0.1))
    steps = []
    resumed = train(model, tr, va, cfg, checkpoint_dir=tmp_path, progress=False,
                    callback=lambda s, info: steps.append(s))
    assert steps == list(range(21, 41))
    assert _strip(resumed.history) == _strip(full.history)
    assert resumed.final_val_loss == full.final_val_loss and resumed.steps == 40
    # finished checkpoint: calling again trains nothing and returns the same result
    again = train(model, tr, va, cfg, checkpoint_dir=tmp_path, progress=False)
    assert _strip(again.history) == _strip(full.history)

    # stop_after leaves a checkpoint to resume from, too
    d2 = tmp_path / "second"
    part = train(tiny(context=24, dropout=0.1), tr, va, cfg, checkpoint_dir=d2, progress=False, stop_after=20)
    assert part.steps == 20
    rest = train(tiny(context=24, dropout=0.1), tr, va, cfg, checkpoint_dir=d2, progress=False)
    assert _strip(rest.history) == _strip(full.history)


def test_checkpoint_with_other_config_raises(tmp_path):
    tr, va = _run_data()
    cfg = TrainConfig(steps=4, batch_size=4, warmup=1, eval_every=2, checkpoint_every=2)
    train(tiny(context=24), tr, va, cfg, checkpoint_dir=tmp_path, progress=False)
    other = TrainConfig(steps=4, batch_size=4, warmup=1, eval_every=2, checkpoint_every=2, lr=1e-3)
    with pytest.raises(InputError, match="lr: checkpoint 0.003 vs now 0.001.*remove that directory"):
        train(tiny(context=24), tr, va, other, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(InputError, match="model config"):
        train(tiny(context=24, n_embd=16), tr, va, cfg, checkpoint_dir=tmp_path, progress=False)


def test_random_batch_sampler_epochs_and_resume():
    s = RandomBatchSampler(10, 4, seed=3)
    it = iter(s)
    batches = [next(it) for _ in range(10)]  # 40 indices = 4 epochs
    flat = [i for b in batches for i in b]
    for e in range(4):
        assert sorted(flat[10 * e : 10 * e + 10]) == list(range(10))
        assert flat[10 * e : 10 * e + 10] == np.random.default_rng(
            np.random.SeedSequence([3, e])).permutation(10).tolist()
    # resume mid-epoch from the state after 3 batches
    s2 = RandomBatchSampler(10, 4, seed=3)
    it2 = iter(s2)
    for _ in range(3):
        next(it2)
    state = s2.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    s3 = RandomBatchSampler(10, 4, seed=3)
    s3.load_state_dict(state)
    it3 = iter(s3)
    assert [next(it3) for _ in range(7)] == batches[3:]
    # more rows per batch than rows: batches span epochs
    small = iter(RandomBatchSampler(3, 5, seed=0))
    assert len(next(small)) == 5
    with pytest.raises(InputError, match="batch_size"):
        RandomBatchSampler(10, 4, seed=3).load_state_dict({**state, "batch_size": 8})


def test_custom_sampler_protocol():
    tr, va = _run_data()

    class FirstRows:
        """A fixed sampler without state_dict: always rows 0 and 1."""

        def __iter__(self):
            while True:
                yield [0, 1]

    seen = []
    train(tiny(context=24), tr, va, TrainConfig(steps=3, eval_every=0), sampler=FirstRows(), progress=False,
          callback=lambda s, info: seen.append(info["batch"]))
    assert seen == [[0, 1]] * 3

    class Bad:
        def __iter__(self):
            yield [0, 99]

    with pytest.raises(InputError, match="sampler yielded"):
        train(tiny(context=24), tr, va, TrainConfig(steps=2), sampler=Bad(), progress=False)


def test_train_rejects_mismatched_data():
    tok = ByteTokenizer()
    ex = encode_texts(tok, ["hello world"], context=40)
    with pytest.raises(InputError, match="context 40 > model context 24"):
        train(tiny(context=24), ex, ex, TrainConfig(steps=1), progress=False)
    with pytest.raises(InputError, match="vocab_size"):
        train(tiny(vocab=100, context=40), ex, ex, TrainConfig(steps=1), progress=False)
    assert math.isfinite(train(tiny(context=40), ex, ex, TrainConfig(steps=1), progress=False).final_val_loss)


def test_max_prompt_tokens_keeps_the_prompt_end():
    from datadiet.lm import ByteTokenizer, encode_instructions

    tok = ByteTokenizer()
    rec = {"instruction": "x" * 100 + "END", "output": "ok"}
    ex = encode_instructions(tok, [rec], context=16, max_prompt_tokens=4)
    assert tok.decode(ex.tokens[0, :4].tolist()) == "END\n"  # the last 4 prompt tokens
    targets = ex.tokens[0, 1:][ex.mask[0] > 0].tolist()
    assert tok.decode(targets) == "ok<|eos|>"
    assert encode_instructions(tok, [rec], context=16).mask.sum() == 0  # without it: no response token
