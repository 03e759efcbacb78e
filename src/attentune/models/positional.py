"""Positional information: sinusoidal and learned absolute embeddings, rotary (RoPE), or none.

Absolute kinds return a (T, D) table that the encoder adds to the token embeddings. Rotary is not added to
the input; `MultiHeadAttention` applies it to q and k (Su et al. 2021), so `build_positional` returns
``None`` for it and the encoder builds a `RotaryEmbedding` for the attention layers instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attentune.errors import ConfigError

POSITIONAL_KINDS = ("sinusoidal", "learned", "rope", "none")


def sinusoidal_table(max_length: int, d_model: int) -> Tensor:
    """Vaswani et al. 2017: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same).

    Shapes: returns (max_length, d_model), float32.
    """
    pos = torch.arange(max_length, dtype=torch.float64)[:, None]  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(D/2),)
    angle = pos / 10000.0 ** (two_i / d_model)  # (T, ceil(D/2))
    table = torch.zeros(max_length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])  # odd d_model: the last sin has no cos partner
    return table.float()


class SinusoidalPositionalEmbedding(nn.Module):
    """Fixed sinusoidal table (no parameters).

    Shapes: forward(seq_len) -> (T, D).
    """

    def __init__(self, max_length: int, d_model: int):
        super().__init__()
        self.max_length = max_length
        # non-persistent: a function of the config, so checkpoints stay free of it
        self.register_buffer("weight", sinusoidal_table(max_length, d_model), persistent=False)

    def forward(self, seq_len: int) -> Tensor:
        _check_length(seq_len, self.max_length)
        return self.weight[:seq_len]


class LearnedPositionalEmbedding(nn.Module):
    """One trained vector per position (BERT / GPT-2).

    Shapes: forward(seq_len) -> (T, D).
    """

    def __init__(self, max_length: int, d_model: int):
        super().__init__()
        self.max_length = max_length
        # fairseq init, on the same scale as the (scaled) token embeddings
        self.weight = nn.Parameter(torch.randn(max_length, d_model) * d_model**-0.5)

    def forward(self, seq_len: int) -> Tensor:
        _check_length(seq_len, self.max_length)
        return self.weight[:seq_len]


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE) in the rotate-half layout (GPT-NeoX, Llama).

    Channel j and j + hd/2 of each head are rotated by the angle pos * base^(-2j/hd), so that
    <rope(q, m), rope(k, n)> depends on m - n only.

    Shapes: forward(x) with x (B, T, ..., hd) -> same shape; position = index along dim 1.
    """

    def __init__(self, head_dim: int, max_length: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ConfigError(f"model: rotary embeddings need an even head dim, got {head_dim}")
        self.max_length = max_length
        inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
        angle = torch.arange(max_length, dtype=torch.float64)[:, None] * inv_freq  # (T, hd/2)
        angle = torch.cat([angle, angle], dim=-1)  # (T, hd)
        self.register_buffer("cos", angle.cos().float(), persistent=False)
        self.register_buffer("sin", angle.sin().float(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        T, hd = x.shape[1], x.shape[-1]
        _check_length(T, self.max_length)
        bshape = (T,) + (1,) * (x.dim() - 3) + (hd,)
        cos = self.cos[:T].view(bshape).to(x.dtype)  # (T, 1.., hd)
        sin = self.sin[:T].view(bshape).to(x.dtype)  # (T, 1.., hd)
        x1, x2 = x.chunk(2, dim=-1)  # (B, T, ..., hd/2) each
        rotated = torch.cat([-x2, x1], dim=-1)  # (B, T, ..., hd)
        return torch.addcmul(x * cos, rotated, sin)


def build_positional(kind: str, max_length: int, d_model: int) -> nn.Module | None:
    """The absolute positional module for `kind`, or None for "rope" (applied in attention) and "none"."""
    if kind == "sinusoidal":
        return SinusoidalPositionalEmbedding(max_length, d_model)
    if kind == "learned":
        return LearnedPositionalEmbedding(max_length, d_model)
    if kind in ("rope", "none"):
        return None
    raise ConfigError(f"model: unknown positional={kind!r}; choose one of {', '.join(POSITIONAL_KINDS)}")


def _check_length(seq_len: int, max_length: int) -> None:
    if seq_len > max_length:
        raise ConfigError(
            f"model: sequence length {seq_len} exceeds max_length={max_length}; "
            "raise model max_length or lower the tokenizer's max_length"
        )
