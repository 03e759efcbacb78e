"""Multi-head self-attention with a fused QKV projection, plus the fast dropout the encoder shares.

Two attention paths, chosen by the caller and never switched behind its back:
  * ``F.scaled_dot_product_attention`` (default; PyTorch picks the kernel),
  * an explicit ``softmax(q k^T / sqrt(hd)) v`` path: used whenever ``need_weights=True`` and, when asked
    with ``backend="explicit"``, for training too (4x faster than SDPA's backward in bf16 on CPU at T=128).

Every projection is an ``nn.Linear`` that forward calls (``self.qkv_proj(x)``), so forward hooks, captum's
layer methods, head masking (a pre-hook on ``out_proj``) and ONNX export see them.

Speed note (see scripts/bench/throughput.py): ``keep_mask`` draws dropout masks from 16-bit random lanes:
``F.dropout`` costs ~5 ms per 1M elements (bernoulli_ on CPU), this ~1 ms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attentune.errors import ConfigError
from attentune.models.contract import unless_unpadded

ATTENTION_BACKENDS = ("sdpa", "explicit")


def keep_mask(shape: tuple[int, ...], p: float, device: torch.device | None = None) -> tuple[Tensor, float]:
    """A dropout keep-mask and its rescale factor, drawn from 16-bit random lanes.

    `p` is rounded to a multiple of 2^-16 (0.1 -> 0.100006) and the scale is exact for the rounded p,
    so the expectation is preserved. Seeded by the default torch generator.
    Shapes: returns (bool mask of `shape`, 1 / (1 - p_rounded)).
    """
    n = math.prod(shape)
    drop = min(round(p * 65536), 65535)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
    mask = bits.view(torch.int16)[:n].view(shape) >= drop - 32768
    return mask, 65536 / (65536 - drop)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout (same semantics as `F.dropout`, faster on CPU). Shapes: any -> same."""
    if not training or p == 0.0:
        return x
    mask, scale = keep_mask(x.shape, p, x.device)
    return torch.mul(x, mask).mul_(scale)


def dropout_add(residual: Tensor, x: Tensor, p: float, training: bool) -> Tensor:
    """residual + dropout(x) in one pass (`addcmul` with the keep-mask). Shapes: (..., D) x2 -> (..., D)."""
    if not training or p == 0.0:
        return residual + x
    mask, scale = keep_mask(x.shape, p, x.device)
    return torch.addcmul(residual, x, mask, value=scale)


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017): `qkv_proj` -> SDPA or explicit softmax -> `out_proj`.

    `qkv_proj` is one `nn.Linear(D, 3D)` (rows: q, then k, then v; the layout of PyTorch's
    `nn.MultiheadAttention.in_proj_weight`), one matmul for the three. Checkpoints with fairseq's separate
    `q_proj`/`k_proj`/`v_proj` load into it. `rotary` (a `RotaryEmbedding`) is applied to q and k when
    given. `key_padding_mask` is True at padding. Returned weights are per head, before attention dropout.
    A query whose keys are all padding gets zero weights and a zero context vector (SDPA's convention for
    fully masked rows), never NaN. `out_proj`'s input is the heads' contexts side by side, head h in
    columns [h * head_dim, (h + 1) * head_dim): what head masking zeroes.

    Shapes: x (B, T, D), key_padding_mask (B, T) -> out (B, T, D), weights (B, H, T, T) or None.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        *,
        rotary: nn.Module | None = None,
        backend: str = "sdpa",
    ):
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(f"model: d_model={d_model} is not divisible by num_heads={num_heads}")
        if backend not in ATTENTION_BACKENDS:
            raise ConfigError(
                f"model: unknown attention_backend={backend!r}; choose one of {', '.join(ATTENTION_BACKENDS)}"
            )
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout, self.backend = dropout, backend
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.rotary = rotary
        self.register_load_state_dict_pre_hook(_fuse_qkv_keys)

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        B, T, D = x.shape
        H, hd = self.num_heads, self.head_dim
        qkv = self.qkv_proj(x).view(B, T, 3, H, hd)  # (B, T, 3, H, hd)
        if self.rotary is not None:
            qk = self.rotary(qkv[:, :, :2])  # (B, T, 2, H, hd)
            q, k = qk.unbind(2)  # (B, T, H, hd) each
            v = qkv[:, :, 2]  # (B, T, H, hd)
        else:
            q, k, v = qkv.unbind(2)  # (B, T, H, hd) each
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, hd) each
        key_padding_mask = unless_unpadded(key_padding_mask)  # no mask tensor at all when nothing is padded
        p = self.dropout if self.training else 0.0

        weights = None
        if need_weights or self.backend == "explicit":
            ctx, weights = self._explicit(q, k, v, key_padding_mask, p)
        else:
            attn_mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]  # (B,1,1,T)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, H, T, hd)
        ctx = ctx.transpose(1, 2).reshape(B, T, D)  # (B, T, D): head h in columns h*hd:(h+1)*hd
        return self.out_proj(ctx), (weights if need_weights else None)

    def _explicit(
        self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None, p: float
    ) -> tuple[Tensor, Tensor]:
        """softmax(q k^T / sqrt(hd)) v, spelled out.

        Shapes: q, k, v (B, H, T, hd) -> context (B, H, T, hd), weights (B, H, T, T).
        """
        scores = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)  # (B, H, T, T)
        if key_padding_mask is not None:
            pad = key_padding_mask[:, None, None, :]  # (B, 1, 1, T)
            # finfo.min, not -inf: a fully padded row stays finite; the second fill zeroes it like SDPA
            scores = scores.masked_fill(pad, torch.finfo(scores.dtype).min)
            weights = scores.softmax(dim=-1).masked_fill(pad, 0.0)
        else:
            weights = scores.softmax(dim=-1)
        return dropout(weights, p, self.training) @ v, weights


def _fuse_qkv_keys(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load a checkpoint saved with separate `q_proj`/`k_proj`/`v_proj` (before issue 22) into `qkv_proj`."""
    for kind in ("weight", "bias"):
        parts = [f"{prefix}{name}_proj.{kind}" for name in ("q", "k", "v")]
        if all(key in state_dict for key in parts):
            state_dict[f"{prefix}qkv_proj.{kind}"] = torch.cat([state_dict.pop(key) for key in parts])
