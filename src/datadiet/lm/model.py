"""A tiny GPT (decoder-only transformer) for data-selection and data-mixing experiments.

Token + learned position embeddings, ``n_layer`` pre-LayerNorm blocks (causal self-attention through
``F.scaled_dot_product_attention(is_causal=True)``, then a 4x GELU MLP), a final LayerNorm and an output
head tied to the token embedding (Radford et al. 2019, "Language Models are Unsupervised Multitask
Learners"). Weights start at N(0, 0.02); seed them with ``torch.manual_seed`` before building the model.

Rerun: ``python -c "from datadiet.lm import GPT, GPTConfig; print(GPT(GPTConfig(4096)).num_parameters())"``
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from datadiet.errors import InputError

IGNORE_INDEX = -100


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the model; ``n_embd`` must be divisible by ``n_head``."""

    vocab_size: int
    context: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "context", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"GPTConfig.{name} must be a positive int, got {v!r}")
        if self.n_embd % self.n_head:
            raise InputError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if not (0.0 <= float(self.dropout) < 1.0):
            raise InputError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")


class _SelfAttention(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.n_head = c.n_head
        self.dropout = c.dropout
        self.qkv = nn.Linear(c.n_embd, 3 * c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.resid_drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.proj(y))


class _Block(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(c.n_embd)
        self.attn = _SelfAttention(c)
        self.ln2 = nn.LayerNorm(c.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(c.n_embd, 4 * c.n_embd), nn.GELU(), nn.Linear(4 * c.n_embd, c.n_embd), nn.Dropout(c.dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Decoder-only transformer; ``forward(idx, targets, loss_mask) -> (logits, loss)``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise InputError(f"GPT needs a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.context, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # tied output head
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    def num_parameters(self) -> int:
        """Number of trainable parameters (the tied embedding/head matrix counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                loss_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits of shape (B, T, vocab_size) for `idx` of shape (B, T), T <= context.

        With `targets` (B, T), `loss` is the mean cross-entropy over the positions where `loss_mask`
        (B, T) is nonzero (all positions when None) and `targets != -100`; 0 when no position counts.
        """
        if idx.dim() != 2:
            raise InputError(f"idx must have shape (batch, time), got {tuple(idx.shape)}")
        T = idx.shape[1]
        if T > self.config.context:
            raise InputError(f"sequence length {T} exceeds the model context {self.config.context}")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits, None
        weight, ce = _masked_ce_terms(logits, targets, loss_mask)
        loss = (ce * weight).sum() / weight.sum().clamp_min(1.0)
        return logits, loss


def _masked_ce_terms(logits: torch.Tensor, targets: torch.Tensor,
                     loss_mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position weights (mask and target != -100) and cross-entropies, both (B*T,) float32."""
    flat_t = targets.reshape(-1)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), flat_t,
                         ignore_index=IGNORE_INDEX, reduction="none")
    weight = (flat_t != IGNORE_INDEX).to(ce.dtype)
    if loss_mask is not None:
        if loss_mask.shape != targets.shape:
            raise InputError(f"loss_mask shape {tuple(loss_mask.shape)} != targets shape {tuple(targets.shape)}")
        weight = weight * loss_mask.reshape(-1).to(ce.dtype)
    return weight, ce

