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
    records = list(records)
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
