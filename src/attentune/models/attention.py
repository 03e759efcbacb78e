"""Multi-head self-attention with a fused QKV projection, plus the two CPU primitives the encoder shares.

Two attention paths, chosen by the caller and never switched behind its back:
  * ``F.scaled_dot_product_attention`` (default; PyTorch picks the kernel),
  * an explicit ``softmax(q k^T / sqrt(hd)) v`` path: used whenever ``need_weights=True`` and, when asked
    with ``backend="explicit"``, for training too (4x faster than SDPA's backward in bf16 on CPU at T=128).

Speed notes (2-core AVX-512 AMD CPU, see scripts/bench/throughput.py):
  * `linear` sends fp32 CPU matmuls to oneDNN: MKL sgemm takes its AVX2 path on AMD CPUs and reaches
    ~200 GFLOPS there, oneDNN ~450. Same fp32 math; only the GEMM library differs.
  * `keep_mask` draws dropout masks from 16-bit random lanes: `F.dropout` costs ~5 ms per 1M elements
    (bernoulli_ on CPU), this ~1 ms.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attentune.errors import ConfigError

ATTENTION_BACKENDS = ("sdpa", "explicit")

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@torch.library.custom_op(
    "attentune::onednn_linear", mutates_args=(), schema="(Tensor x, Tensor w, Tensor? b) -> Tensor"
)
def _onednn_linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """x @ w.T + b in oneDNN; a custom op so that torch.compile calls it as is.

    Shapes: x (..., in), w (out, in), b (out,) -> (..., out).
    """
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")


@_onednn_linear.register_fake
def _(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return x.new_empty((*x.shape[:-1], w.shape[0]))


def _onednn_linear_setup(ctx, inputs: tuple, output: Tensor) -> None:
    x, w, _ = inputs
    ctx.save_for_backward(x, w)


def _onednn_linear_backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    x, w = ctx.saved_tensors
    n_out, n_in = w.shape
    g = grad.reshape(-1, n_out)  # (N, out)
    grad_x = grad_w = grad_b = None
    if ctx.needs_input_grad[0]:
        grad_x = _onednn_linear(g, w.t(), None).view(x.shape)  # (N, in) -> x.shape
    if ctx.needs_input_grad[1]:
        x2 = x.reshape(-1, n_in)  # (N, in)
        # oneDNN is ~1.5x faster when the product's inner dimension is the larger one
        if n_out >= n_in:
            grad_w = _onednn_linear(x2.t(), g.t(), None).t()  # (in, out) -> (out, in)
        else:
            grad_w = _onednn_linear(g.t(), x2.t(), None)  # (out, in)
    if ctx.needs_input_grad[2]:
        grad_b = g.sum(0)
    return grad_x, grad_w, grad_b


_onednn_linear.register_autograd(_onednn_linear_backward, setup_context=_onednn_linear_setup)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, onednn: bool = True) -> Tensor:
    """`F.linear`, through oneDNN for fp32 CPU tensors outside autocast when `onednn` (and available).

    Under CPU autocast, `F.linear` already runs oneDNN's bf16 kernels, so it is used as is.
    Shapes: x (..., in), weight (out, in), bias (out,) -> (..., out).
    """
    if (
        onednn
        and _ONEDNN
        and x.dtype == torch.float32
        and weight.dtype == torch.float32
        and x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
    ):
        return _onednn_linear(x, weight, bias)
    return F.linear(x, weight, bias)


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
    """Multi-head self-attention (Vaswani et al. 2017) with fairseq/HF naming.

    `q_proj`, `k_proj`, `v_proj` are ordinary `nn.Linear` members (state dicts and weight copies work as
    usual); the forward concatenates their weights and runs one QKV matmul. `rotary` (a
    `RotaryEmbedding`) is applied to q and k when given. `key_padding_mask` is True at padding.
    Returned weights are per head, before attention dropout. A query whose keys are all padding gets
    zero weights and a zero context vector (SDPA's convention for fully masked rows), never NaN.

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
        onednn: bool = True,
    ):
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(f"model: d_model={d_model} is not divisible by num_heads={num_heads}")
        if backend not in ATTENTION_BACKENDS:
            raise ConfigError(
                f"model: unknown attention_backend={backend!r}; choose one of {', '.join(ATTENTION_BACKENDS)}"
            )
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout, self.backend, self.onednn = dropout, backend, onednn
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.rotary = rotary

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        B, T, D = x.shape
        H, hd = self.num_heads, self.head_dim
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])  # (3D, D)
        bias = None
        if self.q_proj.bias is not None:
            bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])  # (3D,)
        qkv = linear(x, weight, bias, self.onednn).view(B, T, 3, H, hd)  # (B, T, 3, H, hd)
        if self.rotary is not None:
            qk = self.rotary(qkv[:, :, :2])  # (B, T, 2, H, hd)
            q, k = qk.unbind(2)  # (B, T, H, hd) each
            v = qkv[:, :, 2]  # (B, T, H, hd)
        else:
            q, k, v = qkv.unbind(2)  # (B, T, H, hd) each
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, hd) each
        if key_padding_mask is not None and not key_padding_mask.any():
            key_padding_mask = None  # no mask tensor at all when nothing is padded
        p = self.dropout if self.training else 0.0

        weights = None
        if need_weights or self.backend == "explicit":
            ctx, weights = self._explicit(q, k, v, key_padding_mask, p)
        else:
            attn_mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]  # (B,1,1,T)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)  # (B, H, T, hd)
        ctx = ctx.transpose(1, 2).reshape(B, T, D)  # (B, T, D)
        out = linear(ctx, self.out_proj.weight, self.out_proj.bias, self.onednn)
        return out, (weights if need_weights else None)

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
