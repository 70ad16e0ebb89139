"""Per-domain gradients taken from the training batch itself, at the cost of one training step.

DGA needs one gradient per domain at every update. Probing each domain with its own batch costs
k extra forward/backward passes per update (45.7% step time at 8 domains, T_r = 10, in the first
version of this driver). Instead, `split_backward` cuts the training batch by domain and
backpropagates each part on its own, scaled by its share of the batch's counted tokens:

    L = Σ_tok w ce / W  =  Σ_g L_g,     L_g = Σ_{tok in g} w ce / W

so the gradients of the parts, added into ``.grad``, are the full-batch gradient (up to float
rounding), and each part divided by its share W_g / W is the gradient of domain g's own mean loss.
The optimizer step that follows is exactly the one plain training would take. Domains with no row
in the batch get no gradient here; the caller carries their last alignment or probes them.

Works for any model: the caller gives ``part_loss(rows) -> (sum of weighted token losses, sum of
weights)`` for a subset of the batch's rows (`lm_part_loss` for `datadiet.lm.GPT`).

Rerun: ``pytest tests/test_mix_driver.py -q -k split_backward`` (the parts sum to the full-batch gradient).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from datadiet.errors import InputError


def group_rows(labels: Sequence[int] | np.ndarray) -> dict[int, np.ndarray]:
    """{label: positions in the batch holding it}, labels in increasing order."""
    lab = np.asarray(labels, dtype=np.int64).reshape(-1)
    return {int(g): np.flatnonzero(lab == g) for g in np.unique(lab)}


def flatten(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """One flat tensor of ``tensors`` (None -> zeros shaped like the matching entry of ``like``)."""
    return torch.cat([(t if t is not None else torch.zeros_like(p)).reshape(-1) for t, p in zip(tensors, like)])


def split_backward(part_loss: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]],
                   groups: Mapping[Any, np.ndarray], params: Sequence[torch.nn.Parameter], *,
                   total_weight: float | torch.Tensor) -> tuple[float, dict[Any, torch.Tensor], dict[Any, float]]:
    """Backpropagate the batch group by group, accumulating into ``.grad``; return each group's gradient.

    Parameters
    ----------
    part_loss : callable rows -> (loss_sum, weight_sum)
        Forward pass on the batch rows ``rows`` (positions into the batch): the sum of the weighted
        per-token losses and the sum of the weights (counted tokens).
    groups : dict key -> positions
        A partition of the batch's rows (`group_rows`); empty groups are not allowed.
    params : list of parameters
        Those whose ``.grad`` receives the sum (the optimizer's parameters).
    total_weight : float
        W, the sum of the weights over the whole batch (the full-batch loss is Σ loss_sum / W).

    Returns
    -------
    loss : float
        The full-batch loss Σ_g loss_sum_g / W.
    grads : dict key -> flat float32 tensor
        ∇ of group g's own mean loss (loss_sum_g / W_g); a zero vector when the group has no counted token.
    weights : dict key -> float
        W_g, the counted tokens of each group.

    Notes
    -----
    One forward and one backward pass per group, over rows that together make one batch: the
    arithmetic of one training step, in ``len(groups)`` smaller calls.
    """
    W = float(total_weight)
    if not W > 0:
        raise InputError("split_backward: the batch has no counted token (total_weight is 0)")
    loss_total = 0.0
    grads: dict[Any, torch.Tensor] = {}
    weights: dict[Any, float] = {}
    params = list(params)
    for key, rows in groups.items():
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            raise InputError(f"split_backward: group {key!r} has no rows")
        loss_sum, w_sum = part_loss(rows)
        wg = float(w_sum)
        part = torch.autograd.grad(loss_sum / W, params, allow_unused=True)
        for p, g in zip(params, part):
            if g is None:
                continue
            if p.grad is None:
                p.grad = g.detach().clone()
            else:
                p.grad.add_(g)
        flat = flatten(part, params).detach()
        grads[key] = flat * (W / wg) if wg > 0 else torch.zeros_like(flat)
        weights[key] = wg
        loss_total += float(loss_sum.detach()) / W
    return loss_total, grads, weights


def lm_part_loss(model: torch.nn.Module, examples: Any, batch_rows: np.ndarray,
                 row_weight: np.ndarray | None = None) -> Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]:
    """``part_loss`` for a `datadiet.lm.GPT` on `datadiet.lm.Examples`.

    ``batch_rows`` are the example indices of the batch; ``row_weight`` (optional, one per batch row)
    multiplies every token weight of that row (DoReMi's domain-weighted proxy loss).
    """
    from datadiet.lm.model import _masked_ce_terms
    from datadiet.lm.train import _batch

    dev = next(model.parameters()).device
    batch_rows = np.asarray(batch_rows, dtype=np.int64)

    def part(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(batch_rows[rows]).to(dev)
        x, y, m = _batch(examples, idx)
        logits, _ = model(x)
        w, ce = _masked_ce_terms(logits, y, m)
        if row_weight is not None:
            rw = torch.as_tensor(np.asarray(row_weight, dtype=np.float32)[rows], device=w.device)
            w = w * rw.repeat_interleave(y.shape[1])
        return (w * ce).sum(), w.sum()

    return part
