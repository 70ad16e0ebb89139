"""The training testbed: an offline BPE tokenizer, a tiny GPT and a seeded, resumable training loop.

Used by the `select` and `mix` experiments to compare data subsets and data-mixing samplers:
``train(GPT(GPTConfig(tok.vocab_size)), encode_instructions(tok, records, 128), val, TrainConfig())``.
Needs the ``lm`` extra (torch, tokenizers): ``pip install 'datadiet[lm]'``.
"""

from __future__ import annotations

from datadiet.errors import MissingDependencyError

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("torch", "lm", "datadiet.lm (the training testbed)") from exc

from datadiet.lm.data import Examples, encode_instructions, encode_texts, pack_documents, pack_texts
from datadiet.lm.model import GPT, GPTConfig
from datadiet.lm.tokenizer import ByteTokenizer, Tokenizer, load_tokenizer, train_tokenizer
from datadiet.lm.train import RandomBatchSampler, TrainConfig, TrainResult, evaluate, lr_at, pick_device, train

__all__ = [
    "ByteTokenizer", "Examples", "GPT", "GPTConfig", "RandomBatchSampler", "Tokenizer", "TrainConfig",
    "TrainResult", "encode_instructions", "encode_texts", "evaluate", "load_tokenizer", "lr_at", "pack_documents",
    "pack_texts",
    "pick_device", "train", "train_tokenizer",
]
