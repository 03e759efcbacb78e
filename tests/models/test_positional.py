"""Positional encodings: the sinusoidal formula by hand, RoPE's relative-position property, lengths."""

from __future__ import annotations

import math

import pytest
import torch

from attentune.errors import ConfigError
from attentune.models.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEmbedding,
    build_positional,
    sinusoidal_table,
)


@pytest.mark.parametrize("d_model", [6, 5])
def test_sinusoidal_matches_vaswani_formula_by_hand(d_model: int) -> None:
    table = sinusoidal_table(12, d_model)
    assert table.shape == (12, d_model)
    for pos in (0, 1, 7, 11):
        for j in range(d_model):
            two_i = j - j % 2  # columns 2i and 2i+1 share the frequency 1 / 10000^(2i/d)
            angle = pos / 10000 ** (two_i / d_model)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[pos, j].item() == pytest.approx(want, abs=1e-6), (pos, j)
    # d=6 spot checks written out: PE[1, 2] = sin(1 / 10000^(2/6)), PE[3, 5] = cos(3 / 10000^(4/6))
    if d_model == 6:
        assert table[1, 2].item() == pytest.approx(math.sin(1 / 10000 ** (1 / 3)), abs=1e-6)
        assert table[3, 5].item() == pytest.approx(math.cos(3 / 10000 ** (2 / 3)), abs=1e-6)


def _rope_dot(rope: RotaryEmbedding, q: torch.Tensor, k: torch.Tensor, m: int, n: int) -> float:
    """<rope(q) at position m, rope(k) at position n>."""
    seq = torch.zeros(1, max(m, n) + 1, 1, q.numel(), dtype=torch.float64)  # (B, T, H, hd)
    seq_q, seq_k = seq.clone(), seq.clone()
    seq_q[0, m, 0], seq_k[0, n, 0] = q, k
    return (rope(seq_q)[0, m, 0] @ rope(seq_k)[0, n, 0]).item()


def test_rope_dot_product_depends_only_on_position_difference() -> None:
    torch.manual_seed(0)
    rope = RotaryEmbedding(8, max_length=64).double()
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    base = _rope_dot(rope, q, k, 3, 1)
    for m, n in [(7, 5), (12, 10), (40, 38)]:
        assert _rope_dot(rope, q, k, m, n) == pytest.approx(base, abs=1e-5)
    assert _rope_dot(rope, q, k, 3, 2) != pytest.approx(base, abs=1e-3)  # a different offset differs
    assert _rope_dot(rope, q, k, 5, 5) == pytest.approx(_rope_dot(rope, q, k, 0, 0), abs=1e-5)
    assert _rope_dot(rope, q, k, 0, 0) == pytest.approx((q @ k).item(), abs=1e-12)  # position 0: identity


def test_rope_is_a_rotation_and_keeps_shape() -> None:
    rope = RotaryEmbedding(8, max_length=16)
    x = torch.randn(2, 10, 3, 8)  # (B, T, H, hd)
    y = rope(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    y5 = rope(torch.randn(2, 10, 2, 3, 8))  # extra middle dims broadcast (fused q/k layout)
    assert y5.shape == (2, 10, 2, 3, 8)
    with pytest.raises(ConfigError, match="even head dim"):
        RotaryEmbedding(7, 16)


def test_absolute_embeddings_slice_and_reject_long_sequences() -> None:
    sin = SinusoidalPositionalEmbedding(16, 8)
    torch.testing.assert_close(sin(5), sinusoidal_table(16, 8)[:5])
    assert "weight" not in sin.state_dict()  # a function of the config, not a checkpointed value
    learned = LearnedPositionalEmbedding(16, 8)
    assert learned(5).shape == (5, 8) and learned(5).requires_grad
    for module in (sin, learned, RotaryEmbedding(8, 16)):
        with pytest.raises(ConfigError, match="sequence length 17 exceeds max_length=16"):
            module(17) if not isinstance(module, RotaryEmbedding) else module(torch.zeros(1, 17, 1, 8))


def test_build_positional_kinds() -> None:
    assert isinstance(build_positional("sinusoidal", 8, 4), SinusoidalPositionalEmbedding)
    assert isinstance(build_positional("learned", 8, 4), LearnedPositionalEmbedding)
    assert build_positional("rope", 8, 4) is None and build_positional("none", 8, 4) is None
    with pytest.raises(ConfigError, match="unknown positional='alibi'"):
        build_positional("alibi", 8, 4)
