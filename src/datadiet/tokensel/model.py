"""A small transformer that selects tokens: token-wise FFN embedding, optional self-attention encoder layers,
attention pooling with a learned query (multi-head), and an MLP readout.

No positional encoding: the tasks are permutation invariant in the tokens, so the model is too. The pooling
attention a(X) in (heads, L) is the token-selection map: a trained model should put its mass on j*(X).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TokenTransformer(nn.Module):
    """y_hat(X) for X of shape (n, L, D); ``attention(X)`` gives the pooling weights (n, heads, L)."""

    def __init__(self, D: int, d_model: int = 32, heads: int = 4, layers: int = 0, ff: int = 64):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be a multiple of heads={heads}")
        self.heads, self.dk = heads, d_model // heads
        self.inp = nn.Linear(D, d_model)
        self.tok_ff = nn.Sequential(nn.GELU(), nn.Linear(d_model, ff), nn.GELU(), nn.Linear(ff, d_model))
        self.encoder = (nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model, heads, ff, dropout=0.0, batch_first=True), layers,
            enable_nested_tensor=False) if layers > 0 else None)
        self.query = nn.Parameter(torch.randn(heads, self.dk) / math.sqrt(self.dk))
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model)
        self.head = nn.Sequential(nn.Linear(d_model, ff), nn.GELU(), nn.Linear(ff, 1))

    def tokens(self, X: torch.Tensor) -> torch.Tensor:
        """h_i = W x_i + FFN(W x_i), then the encoder layers; (n, L, d_model)."""
        h = self.inp(X)
        h = h + self.tok_ff(h)
        return self.encoder(h) if self.encoder is not None else h

    def _pool(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, L, _ = h.shape
        k = self.key(h).view(n, L, self.heads, self.dk)
        v = self.value(h).view(n, L, self.heads, self.dk)
        logits = torch.einsum("nlhd,hd->nhl", k, self.query) / math.sqrt(self.dk)
        a = torch.softmax(logits, dim=-1)
        pooled = torch.einsum("nhl,nlhd->nhd", a, v).reshape(n, -1)
        return self.out(pooled), a

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        pooled, _ = self._pool(self.tokens(X))
        return self.head(pooled).squeeze(-1)

    @torch.no_grad()
    def attention(self, X: torch.Tensor) -> torch.Tensor:
        """Pooling attention weights, shape (n, heads, L)."""
        return self._pool(self.tokens(X))[1]


class _TaskHead(nn.Module):
    def __init__(self, task):
        super().__init__()
        self.task = task

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.task.f(z)[..., None]


def oracle_model(task, beta: float = 50.0) -> TokenTransformer:
    """The architecture with hand-set weights that implements the task: logits = beta x_{i,0} (one head picks
    argmax of feature 0), values = tokens, and the true f as readout. Its MSE is the noise level as beta grows."""
    D = task.D
    m = TokenTransformer(D, d_model=D, heads=1, layers=0, ff=4)
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.inp.weight.copy_(torch.eye(D))
        m.query.fill_(0.0)
        m.query[0, 0] = 1.0
        m.key.weight[0, 0] = beta * math.sqrt(D)  # logits = q.k / sqrt(dk) = beta x_{i,0}
        m.value.weight.copy_(torch.eye(D))
        m.out.weight.copy_(torch.eye(D))
    m.head = _TaskHead(task)
    return m
