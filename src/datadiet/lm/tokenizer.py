"""Tokenizers for the training testbed: a byte-level BPE trained offline on the data, and a byte fallback.

Both map any unicode string to ids and back exactly (``decode(encode(s)) == s``) and share one
interface: ``encode``, ``encode_batch``, ``decode``, ``vocab_size``, ``eos_id``, ``pad_id``, ``save``, ``load``.
The special tokens ``<|eos|>`` and ``<|pad|>`` are never produced by ``encode`` (a literal "<|eos|>" in a
text is encoded as ordinary bytes); ``decode`` writes them out as their names.

Rerun: ``python -c "from datadiet.lm import train_tokenizer; t = train_tokenizer(['hello world'] * 10, 300); print(t.encode('hello'))"``
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

from datadiet.errors import InputError, MissingDependencyError
from datadiet.io import check_texts
from datadiet.paths import atomic_write

log = logging.getLogger(__name__)

EOS = "<|eos|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOS, PAD)
_BYTE_FORMAT = "datadiet-byte-tokenizer"
_MIN_VOCAB = 256 + len(SPECIAL_TOKENS)


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", "lm", "The BPE tokenizer") from exc
    return tokenizers


class Tokenizer:
    """A trained byte-level BPE (HF `tokenizers`) with ``<|eos|>`` and ``<|pad|>``; build with `train_tokenizer`."""

    def __init__(self, hf_tokenizer):
        self._tok = hf_tokenizer
        # Special tokens inside user text are encoded as plain bytes, so data can never forge an eos.
        if hasattr(self._tok, "encode_special_tokens"):
            self._tok.encode_special_tokens = True
        eos, pad = self._tok.token_to_id(EOS), self._tok.token_to_id(PAD)
        if eos is None or pad is None:
            raise InputError(f"tokenizer has no {EOS} / {PAD} special tokens; train it with datadiet.lm.train_tokenizer")
        self.eos_id: int = eos
        self.pad_id: int = pad
        self.vocab_size: int = self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no special tokens added)."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` for many texts at once (parallel in Rust)."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; special tokens are written as ``<|eos|>`` / ``<|pad|>``."""
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as HF `tokenizers` JSON, atomically."""
        with atomic_write(path) as fh:
            fh.write(self._tok.to_str())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer | ByteTokenizer":
        """Read a tokenizer written by `save` (a `ByteTokenizer` file gives a `ByteTokenizer`)."""
        return load_tokenizer(path)

    def __getstate__(self):
        return {"json": self._tok.to_str()}

    def __setstate__(self, state):
        tokenizers = _import_tokenizers()
        self.__init__(tokenizers.Tokenizer.from_str(state["json"]))

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size})"


class ByteTokenizer:
    """Model-free fallback: ids 0..255 are UTF-8 bytes, 256 is ``<|eos|>``, 257 is ``<|pad|>``."""

    eos_id = 256
    pad_id = 257
    vocab_size = 258

    def encode(self, text: str) -> list[int]:
        """The UTF-8 bytes of `text`."""
        return list(text.encode("utf-8"))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Bytes back to text (invalid UTF-8 becomes U+FFFD); specials are written by name."""
        out: list[str] = []
        buf = bytearray()
        for i in ids:
            i = int(i)
            if 0 <= i < 256:
                buf.append(i)
                continue
            out.append(buf.decode("utf-8", errors="replace"))
            buf.clear()
            if i == self.eos_id:
                out.append(EOS)
            elif i == self.pad_id:
                out.append(PAD)
            else:
                raise InputError(f"id {i} is outside the byte tokenizer's vocabulary 0..{self.vocab_size - 1}")
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def save(self, path: str | os.PathLike) -> None:
        with atomic_write(path) as fh:
            json.dump({"format": _BYTE_FORMAT, "version": 1}, fh)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer | ByteTokenizer":
        return load_tokenizer(path)

    def __eq__(self, other) -> bool:
        return isinstance(other, ByteTokenizer)

    def __hash__(self) -> int:
        return hash(ByteTokenizer)

    def __repr__(self) -> str:
        return "ByteTokenizer()"


def load_tokenizer(path: str | os.PathLike) -> Tokenizer | ByteTokenizer:
    """Read a tokenizer file written by `Tokenizer.save` or `ByteTokenizer.save`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such tokenizer file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a tokenizer JSON file ({exc})") from exc
    if isinstance(data, dict) and data.get("format") == _BYTE_FORMAT:
        return ByteTokenizer()
    tokenizers = _import_tokenizers()
    try:
        hf = tokenizers.Tokenizer.from_str(text)
    except Exception as exc:  # the Rust side raises a bare Exception
        raise InputError(f"{path}: not a tokenizer file written by datadiet ({exc})") from exc
    return Tokenizer(hf)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> Tokenizer:
    """Train a byte-level BPE with `vocab_size` ids (including 256 bytes and 2 specials) on `texts`.

    Offline and deterministic: the same texts give the same merges. The vocabulary may come out
    smaller than `vocab_size` when the texts have fewer distinct merges; read `.vocab_size`.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < _MIN_VOCAB:
        raise InputError(f"vocab_size must be an int >= {_MIN_VOCAB} (256 bytes + 2 specials), got {vocab_size!r}")
    texts = check_texts(texts)
    if not any(texts):
        raise InputError("train_tokenizer needs at least one non-empty text")
    tk = _import_tokenizers()
    from tokenizers import decoders, models, pre_tokenizers, trainers

    hf = tk.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok = Tokenizer(hf)
    log.info("trained a byte-level BPE with %d ids on %d texts", tok.vocab_size, len(texts))
    return tok
