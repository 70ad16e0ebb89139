"""The base-model stack fine-tuning users use: a `transformers` GPT-2 built from a config, behind `GPT`'s interface.

`HFGPT(GPTConfig(...))` wraps a ``transformers.GPT2LMHeadModel`` (no hub download: built from a
``GPT2Config``; tied input/output embeddings, learned positions, pre-LayerNorm blocks, GELU MLP, no
dropout by default) so that `datadiet.lm.train` and `evaluate` drive it exactly like the in-house
`GPT`: ``forward(idx, targets=None, loss_mask=None) -> (logits, loss)`` with the same masked mean
cross-entropy. ``save_pretrained(folder, tokenizer)`` writes a folder that
``transformers.AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load;
`load_pretrained` reads it back into an `HFGPT`.

Rerun: ``python -c "from datadiet.lm.hf import HFGPT; from datadiet.lm import GPTConfig; print(HFGPT(GPTConfig(512, 32, 1, 2, 32)).num_parameters())"``
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn

from datadiet.errors import InputError, MissingDependencyError
from datadiet.lm.model import GPTConfig, _masked_ce_terms

log = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"


def _transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("transformers", "lm", "The transformers base model") from exc
    return transformers


@contextmanager
def _quiet_transformers():
    """No transformers tqdm bars ("Writing model shards", "Loading weights") inside the block."""
    logging_ = _transformers().utils.logging
    was = logging_.is_progress_bar_enabled()
    logging_.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging_.enable_progress_bar()


def gpt2_config(config: GPTConfig, *, eos_id: int | None = None, pad_id: int | None = None):
    """The ``transformers.GPT2Config`` of a `GPTConfig` (same shapes; dropout on residual, embedding, attention).

    `pad_id` is accepted for symmetry and not stored: the pad token lives in the tokenizer files.
    """
    tf = _transformers()
    return tf.GPT2Config(
        vocab_size=config.vocab_size, n_positions=config.context, n_embd=config.n_embd, n_layer=config.n_layer,
        n_head=config.n_head, resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
        tie_word_embeddings=True, bos_token_id=eos_id, eos_token_id=eos_id, use_cache=False,
        # no pad_token_id: rows are right-padded and the attention is causal, so a pad never reaches a counted
        # target (the loss mask drops pad targets); transformers would otherwise ask for an attention mask
    )


class HFGPT(nn.Module):
    """A ``transformers.GPT2LMHeadModel`` with `GPT`'s forward contract; ``.hf`` is the HF model itself."""

    def __init__(self, config: GPTConfig, *, hf_model=None, eos_id: int | None = None, pad_id: int | None = None):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise InputError(f"HFGPT needs a GPTConfig, got {type(config).__name__}")
        tf = _transformers()
        self.config = config
        if hf_model is None:
            hf_model = tf.GPT2LMHeadModel(gpt2_config(config, eos_id=eos_id, pad_id=pad_id))
        self.hf = hf_model

    def num_parameters(self) -> int:
        """Number of trainable parameters (the tied embedding/head matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                loss_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, vocab_size) for `idx` (B, T); with `targets`, the masked mean cross-entropy (see `GPT`)."""
        if idx.dim() != 2:
            raise InputError(f"idx must have shape (batch, time), got {tuple(idx.shape)}")
        if idx.shape[1] > self.config.context:
            raise InputError(f"sequence length {idx.shape[1]} exceeds the model context {self.config.context}")
        logits = self.hf(input_ids=idx, use_cache=False).logits
        if targets is None:
            return logits, None
        weight, ce = _masked_ce_terms(logits, targets, loss_mask)
        return logits, (ce * weight).sum() / weight.sum().clamp_min(1.0)

    def save_pretrained(self, folder: str | os.PathLike, tokenizer=None) -> Path:
        """Write the model (``save_pretrained``: config.json + model.safetensors) and, given a datadiet BPE
        `Tokenizer`, its ``transformers`` fast tokenizer, into `folder` (written beside, then renamed)."""
        return save_pretrained(self, folder, tokenizer)


def hf_tokenizer(tokenizer):
    """A ``transformers.PreTrainedTokenizerFast`` over a datadiet BPE `Tokenizer` (same ids, eos and pad)."""
    from datadiet.lm.tokenizer import EOS, PAD, Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        raise InputError(f"hf_tokenizer needs a datadiet BPE Tokenizer, got {type(tokenizer).__name__}")
    tf = _transformers()
    return tf.PreTrainedTokenizerFast(tokenizer_object=tokenizer._tok, eos_token=EOS, pad_token=PAD,
                                      bos_token=EOS, unk_token=None)


def save_pretrained(model: HFGPT, folder: str | os.PathLike, tokenizer=None) -> Path:
    """See `HFGPT.save_pretrained`. The folder appears whole or not at all (a crash leaves no half model)."""
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with _quiet_transformers():
            model.hf.save_pretrained(tmp)
        if tokenizer is not None:
            hf_tokenizer(tokenizer).save_pretrained(tmp)
            tokenizer.save(tmp / "datadiet_tokenizer.json")
        with open(tmp / "datadiet_model.json", "w", encoding="utf-8") as fh:
            json.dump({"gpt_config": {k: getattr(model.config, k) for k in model.config.__dataclass_fields__}}, fh)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_pretrained(folder: str | os.PathLike) -> HFGPT:
    """An `HFGPT` from a folder written by `save_pretrained` (read with ``AutoModelForCausalLM``)."""
    folder = Path(folder)
    meta = folder / "datadiet_model.json"
    if not meta.exists():
        raise InputError(f"{folder}: not a datadiet base model folder (no datadiet_model.json); "
                         "build one with `datadiet lm pretrain`")
    try:
        cfg = GPTConfig(**json.loads(meta.read_text(encoding="utf-8"))["gpt_config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{meta}: unreadable ({exc}); remove {folder} and pretrain again") from exc
    tf = _transformers()
    with _quiet_transformers():
        hf = tf.AutoModelForCausalLM.from_pretrained(folder)
    return HFGPT(cfg, hf_model=hf)


def weights_sha256(folder: str | os.PathLike) -> str:
    """sha256 of the saved weights file (``model.safetensors``): the base model's identity."""
    path = Path(folder) / WEIGHTS_NAME
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
