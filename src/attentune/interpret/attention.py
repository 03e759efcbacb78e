"""Token scores from a model's attention: the last layer's weights, and rollout (Abnar & Zuidema 2020).

Both read a token's score through the model's pooling (``EncoderOutput.pooling``: [CLS]'s row, the mean over
real tokens, or the attention pooler's weights): the score of token j is how much of the pooled vector's
attention, directly (last layer) or through every layer (rollout), ends at j. Padding is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from attentune.interpret.target import batch


def rollout(attentions: Sequence[Tensor], real: Tensor) -> Tensor:
    """Attention rollout: per layer, heads averaged, identity added for the residual, rows renormalised; multiplied
    bottom-up (R = Â_L ... Â_1). Padded positions take no part.

    Shapes: attentions L x (B, H, T, T), real (B, T) bool -> (B, T, T): row i = how token i's last state mixes
    the input tokens.
    """
    keep = real.float()  # (B, T)
    pair = keep[:, :, None] * keep[:, None, :]  # (B, T, T): both positions real
    eye = torch.eye(real.shape[1], device=real.device) * pair
    result = eye
    for weights in attentions:
        a = weights.float().mean(1) * pair + eye  # (B, T, T)
        a = a / a.sum(-1, keepdim=True).clamp(min=1e-12)
        result = a @ result
    return result


def read_out(matrix: Tensor, pooling: Tensor | None, real: Tensor) -> Tensor:
    """Token scores through the pooling weights (uniform over real tokens when the model has none, e.g. max).

    Shapes: matrix (B, T, T), pooling (B, T) or None, real (B, T) -> (B, T), zero at padding.
    """
    if pooling is None:
        pooling = real.float() / real.float().sum(-1, keepdim=True).clamp(min=1)
    return (pooling.float()[:, None, :] @ matrix).squeeze(1) * real


@torch.no_grad()
def attention_scores(model: nn.Module, rows: Sequence[Sequence[int]]) -> dict[str, list[list[float]]]:
    """``attention`` (the last layer, heads averaged) and ``rollout`` scores per token of each row; {} when the
    model has no attention. The per-layer, per-head maps themselves: ``attention_maps``."""
    ids, mask = batch(rows)
    out = model(input_ids=ids, attention_mask=mask, return_attention=True)
    if not out.attentions:
        return {}
    last = out.attentions[-1].float().mean(1) * (mask[:, :, None] & mask[:, None, :])  # (B, T, T)
    scores = {
        "attention": read_out(last, out.pooling, mask),
        "rollout": read_out(rollout(out.attentions, mask), out.pooling, mask),
    }
    return {name: [s[i, : len(r)].tolist() for i, r in enumerate(rows)] for name, s in scores.items()}


@torch.no_grad()
def attention_maps(model: nn.Module, ids: Sequence[int], token_type_ids: Sequence[int] | None = None) -> Tensor:
    """One input's attention weights. Shapes: T ids -> (L, H, T, T) (L = 0 for models without attention)."""
    input_ids, mask = batch([ids])
    types = None if token_type_ids is None else torch.tensor([list(token_type_ids)])
    out = model(input_ids=input_ids, attention_mask=mask, token_type_ids=types, return_attention=True)
    if not out.attentions:
        return torch.zeros(0, 0, len(ids), len(ids))
    return torch.stack([a[0].float() for a in out.attentions])
