"""Training examples: fixed-length token windows with a loss mask aligned to the next-token targets.

An `Examples` set holds ``tokens`` (n, context+1) int64 and ``mask`` (n, context) float32. Row i trains
the model on inputs ``tokens[i, :-1]`` and targets ``tokens[i, 1:]``, counting target j in the loss only
when ``mask[i, j] == 1``. Each record/text gives exactly one row, in order, so ``subset(indices)`` with
indices into the records selects the same records (what `select` and `mix` rely on).

Rerun: ``python -c "from datadiet.lm import *; print(encode_texts(ByteTokenizer(), ['hi'], 8).mask)"``
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from datadiet.errors import InputError
from datadiet.io import check_texts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Examples:
    """``tokens`` (n, context+1) int64 and ``mask`` (n, context) float32 (1 = target counted in the loss)."""

    tokens: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self):
        t, m = self.tokens, self.mask
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype != torch.int64 or t.shape[1] < 2:
            raise InputError(f"Examples.tokens must be an int64 tensor (n, context+1), got "
                             f"{getattr(t, 'dtype', type(t).__name__)} {tuple(getattr(t, 'shape', ()))}")
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != (t.shape[0], t.shape[1] - 1):
            raise InputError(f"Examples.mask must have shape {(t.shape[0], t.shape[1] - 1)}, "
                             f"got {tuple(getattr(m, 'shape', ()))}")
        if m.dtype != torch.float32:
            object.__setattr__(self, "mask", m.to(torch.float32))

    @property
    def context(self) -> int:
        """Number of input positions per row."""
        return self.tokens.shape[1] - 1

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def n_target_tokens(self) -> int:
        """Number of targets counted in the loss over the whole set."""
        return int(self.mask.sum().item())

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> "Examples":
        """The rows at `indices` (in that order; repeats allowed)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64).reshape(-1))
        n = len(self)
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise InputError(f"subset indices must lie in [0, {n}), got min {int(idx.min())}, max {int(idx.max())}")
        return Examples(self.tokens[idx], self.mask[idx])

    @classmethod
    def concat(cls, parts: Sequence["Examples"]) -> "Examples":
        """Rows of several sets with the same context, one after another."""
        if not parts:
            raise InputError("Examples.concat needs at least one set")
        ctx = {p.context for p in parts}
        if len(ctx) != 1:
            raise InputError(f"Examples.concat needs sets with one context length, got {sorted(ctx)}")
        return cls(torch.cat([p.tokens for p in parts]), torch.cat([p.mask for p in parts]))

    def to(self, device) -> "Examples":
        return Examples(self.tokens.to(device), self.mask.to(device))


def _check_context(context) -> int:
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise InputError(f"context must be a positive int, got {context!r}")
    return context


def _pack(rows: list[tuple[list[int], int, int]], context: int, pad_id: int) -> Examples:
    """rows of (ids, first, end): ids truncated to context+1 tokens; targets ids[first:end] are in the loss."""
    n = len(rows)
    tokens = np.full((n, context + 1), pad_id, dtype=np.int64)
    mask = np.zeros((n, context), dtype=np.float32)
    for i, (ids, first, end) in enumerate(rows):
        ids = ids[: context + 1]
        tokens[i, : len(ids)] = ids
        end = min(end, len(ids))
        # target j is token j+1, so tokens[first:end] are the targets at positions first-1 .. end-2
        lo = max(first - 1, 0)
        if end - 1 > lo:
            mask[i, lo : end - 1] = 1.0
    return Examples(torch.from_numpy(tokens), torch.from_numpy(mask))


def _pairs(records: Iterable[Mapping], instruction_key: str, response_key: str) -> tuple[list[str], list[str]]:
    """(instructions, responses) of the records; a record that is not a mapping with both string
    fields is an InputError naming it."""
    prompts, responses = [], []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(f"record {i} is {type(rec).__name__}, expected a mapping with "
                             f"'{instruction_key}' and '{response_key}'")
        for key, out in ((instruction_key, prompts), (response_key, responses)):
            if key not in rec:
                raise InputError(f"record {i} has no field '{key}' (fields: {sorted(map(str, rec))}); "
                                 f"pass instruction_key=/response_key=")
            v = rec[key]
            if not isinstance(v, str):
                raise InputError(f"record {i} field '{key}' is {type(v).__name__}, expected str")
            out.append(v)
    return prompts, responses


def encode_instructions(tokenizer, records: Iterable[Mapping], context: int,
                        instruction_key: str = "instruction", response_key: str = "output",
                        max_prompt_tokens: int | None = None) -> Examples:
    """One row per record: ``instruction + "\\n"`` then ``response + <|eos|>``, loss on the response only.

    ``max_prompt_tokens`` keeps only the last that many tokens of each prompt (the part next to the
    response), so a long instruction cannot push the whole response out of the window.

    Sequences longer than ``context + 1`` tokens keep their start (a long instruction can leave no
    response tokens: that row has an all-zero mask and adds nothing to the loss); shorter ones are
    padded with ``<|pad|>``.
    """
    context = _check_context(context)
    prompts, responses = _pairs(records, instruction_key, response_key)
    p_ids = tokenizer.encode_batch([p + "\n" for p in prompts])
    if max_prompt_tokens is not None:
        if isinstance(max_prompt_tokens, bool) or not isinstance(max_prompt_tokens, int) or max_prompt_tokens < 1:
            raise InputError(f"max_prompt_tokens must be a positive int, got {max_prompt_tokens!r}")
        p_ids = [p[-max_prompt_tokens:] for p in p_ids]
    r_ids = tokenizer.encode_batch(responses)
    eos = tokenizer.eos_id
    rows = [(p + r + [eos], len(p), len(p) + len(r) + 1) for p, r in zip(p_ids, r_ids)]
    ex = _pack(rows, context, tokenizer.pad_id)
    empty = int((ex.mask.sum(1) == 0).sum())
    if empty:
        log.warning("%d of %d records have no response token within context %d (instruction too long)",
                    empty, len(ex), context)
    return ex


def encode_texts(tokenizer, texts: Iterable[str], context: int) -> Examples:
    """One row per text: its tokens then ``<|eos|>``, truncated to ``context + 1`` (the start is kept), padded.

    Every real target token is in the loss (plain language modelling).
    """
    context = _check_context(context)
    texts = check_texts(texts)
    eos = tokenizer.eos_id
    rows = [(ids + [eos], 0, len(ids) + 1) for ids in tokenizer.encode_batch(texts)]
    return _pack(rows, context, tokenizer.pad_id)


# ---------------------------------------------------------------- document packing (pretraining)

#: the `ByteTokenizer`'s ids, the defaults of `pack_documents` (pass ``tokenizer.eos_id`` for a BPE)
_BYTE_EOS, _BYTE_PAD = 256, 257


def _check_token_id(name: str, v) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise InputError(f"{name} must be an int >= 0 or None, got {v!r}")
    return int(v)


def pack_documents(token_lists, context: int, *, drop_last: bool = True, eos_id: int | None = _BYTE_EOS,
                   pad_id: int = _BYTE_PAD) -> tuple[np.ndarray, dict]:
    """Whole documents, each followed by `eos_id`, concatenated into one stream and cut into windows.

    Parameters
    ----------
    token_lists : sequence of sequences of int
        One list (or 1-D integer array) of token ids per document, in order. Nothing is truncated.
    context : int
        Model context; each window holds ``context + 1`` tokens (inputs ``w[:-1]``, targets ``w[1:]``).
    drop_last : bool, default=True
        Drop the tail of the stream that does not fill a whole window (counted in ``tokens_dropped``).
        With False the tail becomes one last window padded with `pad_id` (targets equal to `pad_id`
        are padding: mask them, as `pack_texts` does).
    eos_id : int or None, default=256 (the `ByteTokenizer`'s ``<|eos|>``)
        End-of-document token appended after every document; None appends nothing (the lists
        already carry their separators).
    pad_id : int, default=257 (the `ByteTokenizer`'s ``<|pad|>``)

    Returns
    -------
    windows : ndarray of shape (n_windows, context + 1), int64
        Window i is ``stream[i*context : i*context + context + 1]``: consecutive windows share one
        token, so every token of the stream after the first is a target exactly once.
    stats : dict
        ``documents``, ``tokens`` (stream length, separators included), ``tokens_seen`` (stream
        tokens inside a window), ``tokens_dropped`` (= tokens - tokens_seen), ``targets`` (tokens
        predicted: tokens_seen - 1, or 0), ``tokens_padded``, ``windows``, ``context``.

    Notes
    -----
    Windows cross document boundaries (GPT-2-style packing; attention is not reset at ``eos``).
    O(total tokens) time and memory.
    """
    context = _check_context(context)
    eos_id = _check_token_id("eos_id", eos_id)
    pad_id = _check_token_id("pad_id", pad_id)
    if isinstance(token_lists, (str, bytes)):
        raise InputError("token_lists must be a sequence of token-id lists, not a string; tokenize first")
    parts: list[np.ndarray] = []
    n_docs = 0
    sep = np.array([] if eos_id is None else [eos_id], dtype=np.int64)
    for i, ids in enumerate(token_lists):
        a = np.asarray(ids)
        if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise InputError(f"document {i}: token ids must be a flat list of ints, got "
                             f"{a.dtype} array of shape {a.shape}")
        if a.size and a.min() < 0:
            raise InputError(f"document {i}: token ids must be >= 0, got {int(a.min())}")
        parts.append(a.astype(np.int64, copy=False))
        parts.append(sep)
        n_docs += 1
    stream = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    n = int(stream.size)
    full = (n - 1) // context if n > context else 0
    covered = full * context + 1 if full else 0
    starts = np.arange(full, dtype=np.int64) * context
    windows = stream[starts[:, None] + np.arange(context + 1, dtype=np.int64)[None, :]] if full else \
        np.zeros((0, context + 1), dtype=np.int64)
    padded = 0
    if not drop_last and n > covered:
        tail = stream[covered - 1:] if covered else stream  # shares one token with the previous window
        last = np.full((1, context + 1), pad_id, dtype=np.int64)
        last[0, : tail.size] = tail
        padded = context + 1 - int(tail.size)
        windows = np.concatenate([windows, last])
        covered = n
    stats = {"documents": n_docs, "tokens": n, "tokens_seen": covered, "tokens_dropped": n - covered,
             "targets": max(covered - 1, 0), "tokens_padded": padded, "windows": int(windows.shape[0]),
             "context": context}
    return np.ascontiguousarray(windows, dtype=np.int64), stats


def pack_texts(tokenizer, texts: Iterable[str], context: int, *,
               drop_last: bool = True) -> tuple[Examples, dict]:
    """`pack_documents` of ``tokenizer.encode_batch(texts)`` as `Examples` (every non-pad target in the loss)."""
    texts = check_texts(texts)
    windows, stats = pack_documents(tokenizer.encode_batch(texts), context, drop_last=drop_last,
                                    eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id)
    tokens = torch.from_numpy(windows)
    mask = torch.ones((tokens.shape[0], context), dtype=torch.float32)
    if stats["tokens_padded"]:
        mask[-1, context + 1 - stats["tokens_padded"] - 1:] = 0.0
    return Examples(tokens, mask), stats


# ---------------------------------------------------------------- supervised fine-tuning rows

SFT_TEMPLATE = "### Instruction:\n{instruction}\n### Response:\n"


def encode_sft(tokenizer, records: Iterable[Mapping], context: int, *, max_prompt_tokens: int | None = None,
               template: str = SFT_TEMPLATE, instruction_key: str = "instruction",
               response_key: str = "output") -> tuple[Examples, dict]:
    """One row per record, loss on the response: ``template(instruction)`` then ``response + <|eos|>``.

    Truncation policy (explicit, counted): the prompt keeps its *end*, at most `max_prompt_tokens`
    (default ``context // 2``) tokens, the part next to the response; the response keeps its *start*,
    as many tokens (``<|eos|>`` included) as fit in ``context + 1``. So every row trains on at least
    ``context + 1 - max_prompt_tokens`` response tokens when the response has them.

    Returns the rows and ``stats``: ``records``, ``prompt_tokens`` / ``prompt_tokens_dropped``,
    ``response_tokens`` / ``response_tokens_dropped`` (eos included), ``rows_truncated`` and
    ``response_tokens_kept`` (= the targets in the loss).
    """
    context = _check_context(context)
    if max_prompt_tokens is None:
        max_prompt_tokens = max(1, context // 2)
    if isinstance(max_prompt_tokens, bool) or not isinstance(max_prompt_tokens, int) or not 1 <= max_prompt_tokens <= context:
        raise InputError(f"max_prompt_tokens must be an int in [1, context={context}], got {max_prompt_tokens!r}")
    if "{instruction}" not in template:
        raise InputError(f"template must contain '{{instruction}}', got {template!r}")
    instructions, responses = _pairs(records, instruction_key, response_key)
    prompts = [template.replace("{instruction}", x) for x in instructions]
    p_ids = tokenizer.encode_batch(prompts)
    r_ids = tokenizer.encode_batch(responses)
    eos = tokenizer.eos_id
    rows = []
    st = dict(records=len(responses), prompt_tokens=0, prompt_tokens_dropped=0, response_tokens=0,
              response_tokens_dropped=0, response_tokens_kept=0, rows_truncated=0)
    for p, r in zip(p_ids, r_ids):
        r = r + [eos]
        p_keep = p[-max_prompt_tokens:]
        r_keep = r[: context + 1 - len(p_keep)]
        st["prompt_tokens"] += len(p)
        st["prompt_tokens_dropped"] += len(p) - len(p_keep)
        st["response_tokens"] += len(r)
        st["response_tokens_dropped"] += len(r) - len(r_keep)
        st["response_tokens_kept"] += len(r_keep)
        st["rows_truncated"] += int(len(p_keep) < len(p) or len(r_keep) < len(r))
        rows.append((p_keep + r_keep, len(p_keep), len(p_keep) + len(r_keep)))
    return _pack(rows, context, tokenizer.pad_id), st
