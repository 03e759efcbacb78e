"""Pooling (sequence -> vector) and the classification head on top of the encoder."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attentune.errors import ConfigError

POOLING_KINDS = ("cls", "mean", "max", "attention")
# What a model puts on its encoder (the model contract's ``head``): a label per sequence, or a span per sequence
# (extractive QA: a start and an end logit per token). Families without a span head refuse ``span``.
HEADS = ("classification", "span")


def check_head(head: str, family: str, heads: tuple[str, ...] = HEADS) -> None:
    if head not in heads:
        if head in HEADS:
            raise ConfigError(f"model: {family} has no {head} head (task=qa needs model=mha or model=minilm)")
        raise ConfigError(f"model: unknown head={head!r}; choose one of {', '.join(HEADS)}")


class Pooler(nn.Module):
    """Reduce encoder states to one vector per sequence, ignoring padding.

    cls: the state at position 0 (the tokenizer always puts [CLS] there); mean / max: over real tokens;
    attention: softmax(h q / sqrt(D)) with one learned query q, padding masked. A sequence with no real
    token pools to zeros.

    Shapes: hidden (B, T, D), padding_mask (B, T) bool, True = padding -> (B, D).
    """

    def __init__(self, kind: str, d_model: int):
        super().__init__()
        if kind not in POOLING_KINDS:
            raise ConfigError(f"model: unknown pooling={kind!r}; choose one of {', '.join(POOLING_KINDS)}")
        self.kind = kind
        self.query = nn.Parameter(torch.zeros(d_model)) if kind == "attention" else None  # uniform at init

    def weights(self, hidden: Tensor, padding_mask: Tensor | None = None) -> Tensor | None:
        """How the pooled vector weighs each position: cls one-hot at 0, mean uniform over real tokens, attention
        its softmax; None for max (no fixed weights). What attention rollout reads its token scores through.

        Shapes: hidden (B, T, D), padding_mask (B, T) -> (B, T) rows summing to 1 (0 with no real token), or None.
        """
        B, T = hidden.shape[:2]
        real = torch.ones(B, T, device=hidden.device) if padding_mask is None else (~padding_mask).float()
        if self.kind == "cls":
            return F.one_hot(torch.zeros(B, dtype=torch.long, device=hidden.device), T).float()
        if self.kind == "mean":
            return real / real.sum(-1, keepdim=True).clamp(min=1)
        if self.kind == "attention":
            scores = (hidden.float() @ self.query.float()) * hidden.shape[-1] ** -0.5  # (B, T)
            return scores.masked_fill(real == 0, torch.finfo(scores.dtype).min).softmax(-1) * real
        return None

    def forward(self, hidden: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        if self.kind == "cls":
            return hidden[:, 0]
        if padding_mask is None:
            if self.kind == "mean":
                return hidden.mean(dim=1)
            if self.kind == "max":
                return hidden.amax(dim=1)
            padding_mask = torch.zeros(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
        keep = (~padding_mask).unsqueeze(-1)  # (B, T, 1)
        if self.kind == "mean":
            count = keep.sum(dim=1).clamp(min=1)  # (B, 1)
            return (hidden * keep).sum(dim=1) / count
        if self.kind == "max":
            pooled = hidden.masked_fill(~keep, torch.finfo(hidden.dtype).min).amax(dim=1)  # (B, D)
            return pooled * keep.any(dim=1)  # all-padding rows -> 0
        scores = (hidden @ self.query.to(hidden.dtype)) * hidden.shape[-1] ** -0.5  # (B, T)
        scores = scores.masked_fill(padding_mask, torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1).masked_fill(padding_mask, 0.0)  # (B, T)
        return (weights.unsqueeze(1) @ hidden).squeeze(1)  # (B, 1, T) @ (B, T, D) -> (B, D)


class ClassificationHead(nn.Module):
    """dropout -> [dense -> GELU -> dropout] -> out_proj; the bracket only when `hidden_dim` is set.

    Shapes: pooled (B, D) -> logits (B, num_classes).
    """

    def __init__(self, d_model: int, num_classes: int, dropout: float = 0.1, hidden_dim: int | None = None):
        super().__init__()
        self.dropout = dropout
        self.dense = nn.Linear(d_model, hidden_dim) if hidden_dim else None
        self.out_proj = nn.Linear(hidden_dim or d_model, num_classes)

    def forward(self, pooled: Tensor) -> Tensor:
        x = F.dropout(pooled, self.dropout, self.training)
        if self.dense is not None:
            x = F.dropout(F.gelu(self.dense(x)), self.dropout, self.training)
        return self.out_proj(x)


class SpanHead(nn.Module):
    """A start and an end logit per token (extractive QA); padding gets the dtype's minimum, so it is never picked.

    Shapes: hidden (B, T, D), padding_mask (B, T) bool or None -> (B, T, 2).
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(d_model, 2)

    def forward(self, hidden: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        logits = self.proj(hidden)
        if padding_mask is not None:
            logits = logits.masked_fill(padding_mask.unsqueeze(-1), torch.finfo(logits.dtype).min)
        return logits
