"""MultiHeadAttention: both paths vs torch.nn.MultiheadAttention, padding, dropout, CPU primitives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attentune.errors import ConfigError
from attentune.models.attention import MultiHeadAttention, dropout, dropout_add, keep_mask
from attentune.models.positional import RotaryEmbedding

D, H, B, T = 16, 4, 3, 7


def _pair(dtype=torch.float64, **kwargs) -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiHeadAttention(D, H, **kwargs).to(dtype).eval()
    ref = nn.MultiheadAttention(D, H, batch_first=True, dtype=dtype).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv_proj.weight)  # the same (3D, D) layout: q rows, k rows, v rows
        ref.in_proj_bias.copy_(ours.qkv_proj.bias)
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
    return ours, ref


def _padding(lengths=(T, 4, 1)) -> torch.Tensor:
    return torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]  # (B, T), True = padding


@pytest.mark.parametrize("padded", [False, True])
def test_both_paths_equal_torch_multihead_attention(padded: bool) -> None:
    ours, ref = _pair()
    x = torch.randn(B, T, D, dtype=torch.float64)
    kpm = _padding() if padded else None
    ref_out, ref_w = ref(x, x, x, key_padding_mask=kpm, need_weights=True, average_attn_weights=False)
    fast, none = ours(x, kpm)
    explicit, weights = ours(x, kpm, need_weights=True)
    assert none is None and weights.shape == (B, H, T, T)
    torch.testing.assert_close(fast, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(explicit, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(weights, ref_w, rtol=0, atol=1e-12)


def test_explicit_backend_equals_sdpa_backend() -> None:
    ours, _ = _pair()
    other = MultiHeadAttention(D, H, backend="explicit").double().eval()
    other.load_state_dict(ours.state_dict())
    x, kpm = torch.randn(B, T, D, dtype=torch.float64), _padding()
    torch.testing.assert_close(other(x, kpm)[0], ours(x, kpm)[0], rtol=0, atol=1e-12)


def test_padded_keys_get_exactly_zero_weight_and_rows_sum_to_one() -> None:
    ours, _ = _pair()
    kpm = _padding()
    _, weights = ours(torch.randn(B, T, D, dtype=torch.float64), kpm, need_weights=True)
    assert (weights.masked_select(kpm[:, None, None, :].expand_as(weights)) == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, H, T, dtype=torch.float64))


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_fully_padded_sequence_is_finite_and_does_not_touch_the_others(backend: str) -> None:
    ours, _ = _pair(backend=backend)
    x = torch.randn(B, T, D, dtype=torch.float64, requires_grad=True)
    kpm = _padding((T, 4, 0))  # third sequence: padding only
    out, _ = ours(x, kpm)
    assert torch.isfinite(out).all()
    # a query with no key to attend to gets a zero context vector: the output is the out_proj bias
    torch.testing.assert_close(out[2], ours.out_proj.bias.expand(T, D))
    alone, _ = ours(x[:2], kpm[:2])
    torch.testing.assert_close(out[:2], alone, rtol=0, atol=1e-12)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    _, weights = ours(x, kpm, need_weights=True)
    assert torch.isfinite(weights).all() and (weights[2] == 0).all()


def test_padded_queries_are_finite_and_real_tokens_ignore_padding_content() -> None:
    ours, _ = _pair()
    x = torch.randn(B, T, D, dtype=torch.float64)
    kpm = _padding()
    out, _ = ours(x, kpm)
    x2 = x.masked_fill(kpm[..., None], 1e6)  # garbage in the padded positions
    out2, _ = ours(x2, kpm)
    assert torch.isfinite(out2).all()
    keep = ~kpm[..., None]
    torch.testing.assert_close(out * keep, out2 * keep, rtol=0, atol=1e-9)


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_dropout_zero_is_deterministic_and_dropout_is_active_in_training(backend: str) -> None:
    x = torch.randn(B, T, D)
    ours = MultiHeadAttention(D, H, dropout=0.0, backend=backend).train()
    torch.testing.assert_close(ours(x)[0], ours(x)[0], rtol=0, atol=0)
    torch.testing.assert_close(ours(x)[0], ours.eval()(x)[0], rtol=0, atol=0)
    noisy = MultiHeadAttention(D, H, dropout=0.5, backend=backend).train()
    assert not torch.equal(noisy(x)[0], noisy(x)[0])
    noisy.eval()
    assert torch.equal(noisy(x)[0], noisy(x)[0])


def test_rotary_attention_paths_agree_and_are_shift_invariant() -> None:
    rope = RotaryEmbedding(D // H, max_length=32).double()
    ours = MultiHeadAttention(D, H, rotary=rope).double().eval()
    x = torch.randn(1, T, D, dtype=torch.float64)
    fast, _ = ours(x)
    explicit, weights = ours(x, need_weights=True)
    torch.testing.assert_close(fast, explicit, rtol=0, atol=1e-12)
    # RoPE without absolute embeddings: the same tokens at shifted positions attend identically
    shifted = torch.cat([torch.randn(1, 3, D, dtype=torch.float64), x], dim=1)  # tokens now at 3..3+T
    kpm = torch.zeros(1, T + 3, dtype=torch.bool)
    kpm[:, :3] = True
    _, w_shift = ours(shifted, kpm, need_weights=True)
    torch.testing.assert_close(w_shift[:, :, 3:, 3:], weights, rtol=0, atol=1e-6)  # fp32 cos/sin tables


def test_invalid_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="d_model=10 is not divisible by num_heads=4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ConfigError, match="attention_backend='flash'"):
        MultiHeadAttention(D, H, backend="flash")


def test_a_state_dict_with_separate_q_k_v_projections_loads_into_the_fused_one() -> None:
    ours, _ = _pair()
    old = {k: v for k, v in ours.state_dict().items() if not k.startswith("qkv_proj")}
    for kind in ("weight", "bias"):  # the layout of checkpoints saved before the fused projection
        for name, part in zip("qkv", ours.qkv_proj.state_dict()[kind].chunk(3), strict=True):
            old[f"{name}_proj.{kind}"] = part.clone()
    fresh = MultiHeadAttention(D, H).double().eval()
    fresh.load_state_dict(old)
    x = torch.randn(B, T, D, dtype=torch.float64)
    torch.testing.assert_close(fresh(x)[0], ours(x)[0], rtol=0, atol=0)


def test_keep_mask_rate_scale_and_seeding() -> None:
    mask, scale = keep_mask((1000, 1000), 0.1)
    assert abs(mask.float().mean().item() - 0.9) < 0.002
    assert scale == pytest.approx(65536 / (65536 - 6554))
    for lane in range(4):  # every 16-bit lane of the 64-bit draws is uniform
        assert abs(mask.view(-1, 4)[:, lane].float().mean().item() - 0.9) < 0.004
    torch.manual_seed(3)
    a, _ = keep_mask((50,), 0.5)
    torch.manual_seed(3)
    b, _ = keep_mask((50,), 0.5)
    assert torch.equal(a, b)


def test_dropout_and_dropout_add_semantics() -> None:
    x, r = torch.randn(64, 64), torch.randn(64, 64)
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x
    torch.testing.assert_close(dropout_add(r, x, 0.3, training=False), r + x)
    torch.manual_seed(5)
    y = dropout_add(r, x, 0.3, training=True)
    torch.manual_seed(5)
    mask, scale = keep_mask(x.shape, 0.3)
    torch.testing.assert_close(y, r + x * mask * scale)
    torch.manual_seed(5)
    torch.testing.assert_close(dropout(x, 0.3, training=True), x * mask * scale)
    big = dropout(torch.ones(500, 500), 0.2, training=True)
    assert abs(big.mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation
