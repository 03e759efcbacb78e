"""Pre-LN Transformer encoder and the `AttentionClassifier` built on it.

Layering (fairseq / HF BERT): embeddings -> EncoderLayer x N -> final LayerNorm -> Pooler -> head.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attentune.errors import ConfigError
from attentune.models.attention import ATTENTION_BACKENDS, MultiHeadAttention, dropout, dropout_add
from attentune.models.contract import EncoderOutput, make_config, real_tokens, unless_unpadded
from attentune.models.embeddings import check_pretrained_embeddings, init_pretrained
from attentune.models.heads import POOLING_KINDS, ClassificationHead, Pooler, SpanHead, check_head
from attentune.models.positional import POSITIONAL_KINDS, RotaryEmbedding, build_positional


@dataclass
class EncoderConfig:
    """Hyperparameters of `AttentionClassifier`, validated on construction (`ConfigError`)."""

    vocab_size: int
    num_classes: int
    d_model: int = 256
    num_heads: int = 8
    num_layers: int = 4
    ffn_ratio: float = 4.0
    dropout: float = 0.1  # embeddings, residual branches and the head
    attention_dropout: float = 0.0  # on the attention weights
    positional: str = "sinusoidal"  # sinusoidal | learned | rope | none
    pooling: str = "mean"  # cls | mean | max | attention
    max_length: int = 512
    pad_token_id: int = 0
    head_hidden_dim: int | None = None  # None: dropout + linear head; int: one GELU hidden layer first
    bias: bool = True
    layer_norm_eps: float = 1e-5
    rope_base: float = 10000.0
    attention_backend: str = "sdpa"  # sdpa | explicit (need_weights always uses explicit)
    pretrained_embeddings: str | None = None  # null | glove (copied in by ``init_embeddings(vocab)``)
    head: str = "classification"  # classification: pooled -> logits (B, C); span: start/end logits (B, T, 2)

    def __post_init__(self) -> None:
        check_head(self.head, "mha")
        for name in ("vocab_size", "num_classes", "d_model", "num_heads", "num_layers", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"model: {name} must be a positive integer, got {value!r}")
            setattr(self, name, int(value))  # numpy ints from a tuner become plain ints
        if self.num_classes < 2:
            raise ConfigError(f"model: num_classes must be >= 2, got {self.num_classes}")
        if self.d_model % self.num_heads:
            raise ConfigError(f"model: d_model={self.d_model} is not divisible by num_heads={self.num_heads}")
        if not self.ffn_ratio > 0 or self.ffn_dim < 1:
            raise ConfigError(f"model: ffn_ratio must give d_model * ffn_ratio >= 1, got {self.ffn_ratio!r}")
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
                raise ConfigError(f"model: {name} must be in [0, 1), got {value!r}")
        for name, kinds in (
            ("positional", POSITIONAL_KINDS),
            ("pooling", POOLING_KINDS),
            ("attention_backend", ATTENTION_BACKENDS),
        ):
            value = getattr(self, name)
            if value not in kinds:
                raise ConfigError(f"model: unknown {name}={value!r}; choose one of {', '.join(kinds)}")
        if self.positional == "rope" and self.head_dim % 2:
            raise ConfigError(f"model: positional=rope needs an even head dim, got {self.head_dim}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"model: pad_token_id={self.pad_token_id} is outside [0, {self.vocab_size})")
        hidden = self.head_hidden_dim
        if hidden is not None and (not isinstance(hidden, numbers.Integral) or hidden <= 0):
            raise ConfigError(f"model: head_hidden_dim must be a positive integer or null, got {hidden!r}")
        for name in ("layer_norm_eps", "rope_base"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"model: {name} must be > 0, got {getattr(self, name)!r}")
        check_pretrained_embeddings(self.pretrained_embeddings, self.d_model)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    @property
    def ffn_dim(self) -> int:
        return int(round(self.d_model * self.ffn_ratio))


class EncoderLayer(nn.Module):
    """Pre-LN block: x + attn(LN(x)), then x + fc2(GELU(fc1(LN(x)))), dropout on both branches.

    Shapes: x (B, T, D), key_padding_mask (B, T) -> (B, T, D), weights (B, H, T, T) or None.
    """

    def __init__(self, config: EncoderConfig, rotary: RotaryEmbedding | None = None):
        super().__init__()
        c = config
        self.dropout = c.dropout
        self.self_attn_layer_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.self_attn = MultiHeadAttention(
            c.d_model, c.num_heads, c.attention_dropout, c.bias,
            rotary=rotary, backend=c.attention_backend,
        )  # fmt: skip
        self.final_layer_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)
        self.fc1 = nn.Linear(c.d_model, c.ffn_dim, bias=c.bias)
        self.fc2 = nn.Linear(c.ffn_dim, c.d_model, bias=c.bias)

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        h, weights = self.self_attn(self.self_attn_layer_norm(x), key_padding_mask, need_weights)
        x = dropout_add(x, h, self.dropout, self.training)
        h = self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))  # (B, T, F) -> (B, T, D)
        return dropout_add(x, h, self.dropout, self.training), weights


class TransformerEncoder(nn.Module):
    """Token embeddings (scaled by sqrt(D), fairseq) + positions -> pre-LN layers -> final LayerNorm.

    Shapes: input_ids (B, T), padding_mask (B, T) bool True = padding -> hidden (B, T, D),
    attentions: tuple of (B, H, T, T) per layer when `return_attention`, else None.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        c = config
        self.dropout = c.dropout
        self.embed_scale = c.d_model**0.5
        self.embed_tokens = nn.Embedding(c.vocab_size, c.d_model, padding_idx=c.pad_token_id)
        nn.init.normal_(self.embed_tokens.weight, std=c.d_model**-0.5)
        with torch.no_grad():
            self.embed_tokens.weight[c.pad_token_id].zero_()
        self.embed_positions = build_positional(c.positional, c.max_length, c.d_model)
        rotary = RotaryEmbedding(c.head_dim, c.max_length, c.rope_base) if c.positional == "rope" else None
        self.layers = nn.ModuleList(EncoderLayer(c, rotary) for _ in range(c.num_layers))
        self.layer_norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)

    def forward(
        self, input_ids: Tensor, padding_mask: Tensor | None = None, return_attention: bool = False
    ) -> tuple[Tensor, tuple[Tensor, ...] | None]:
        x = self.embed_tokens(input_ids)  # (B, T, D)
        if self.embed_positions is not None:
            x = torch.add(self.embed_positions(input_ids.shape[1]), x, alpha=self.embed_scale)  # (B, T, D)
        else:
            x = x * self.embed_scale
        x = dropout(x, self.dropout, self.training)
        padding_mask = unless_unpadded(padding_mask)  # checked once here, so no layer builds a mask
        attentions = []
        for layer in self.layers:
            x, weights = layer(x, padding_mask, need_weights=return_attention)
            attentions.append(weights)
        return self.layer_norm(x), (tuple(attentions) if return_attention else None)


class AttentionClassifier(nn.Module):
    """Self-attention text classifier: `TransformerEncoder` -> `Pooler` -> `ClassificationHead`.

    Built from keyword arguments (Hydra `_target_`), validated through `EncoderConfig` (kept as
    `self.config`). `attention_mask` is 1/True at real tokens and 0/False at padding; when omitted it is
    `input_ids != pad_token_id`.

    Shapes: input_ids (B, T) long, attention_mask (B, T) -> logits (B, num_classes), or with
    `return_attention` an `EncoderOutput` whose attentions hold one (B, H, T, T) tensor per layer.
    """

    def __init__(self, vocab_size: int, num_classes: int, **hparams: Any):
        super().__init__()
        self.config = make_config(EncoderConfig, "mha", vocab_size=vocab_size, num_classes=num_classes, **hparams)
        self.encoder = TransformerEncoder(self.config)
        if self.config.head == "span":  # the same body under a span head: start/end logits per token
            self.pooler = None
            self.head = SpanHead(self.config.d_model)
        else:
            self.pooler = Pooler(self.config.pooling, self.config.d_model)
            self.head = ClassificationHead(
                self.config.d_model, self.config.num_classes, self.config.dropout, self.config.head_hidden_dim
            )

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        token_type_ids: Tensor | None = None,  # the model contract's segments: this encoder has no segment embedding
        return_attention: bool = False,
    ) -> Tensor | EncoderOutput:
        padding_mask = ~real_tokens(input_ids, attention_mask, self.config.pad_token_id)  # (B, T)
        padding_mask = unless_unpadded(padding_mask)  # fast paths everywhere when nothing is padded
        hidden, attentions = self.encoder(input_ids, padding_mask, return_attention)  # (B, T, D)
        if self.pooler is None:
            logits = self.head(hidden, padding_mask)  # (B, T, 2)
        else:
            logits = self.head(self.pooler(hidden, padding_mask))  # (B, num_classes)
        if return_attention:
            pooling = None if self.pooler is None else self.pooler.weights(hidden, padding_mask)
            return EncoderOutput(logits=logits, attentions=attentions, pooling=pooling)
        return logits

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def attention_heads(self) -> list[tuple[nn.Module, int]]:
        return [(layer.self_attn.out_proj, self.config.num_heads) for layer in self.encoder.layers]

    @torch.no_grad()
    def init_embeddings(self, vocab: dict[str, int]) -> int:
        """Copy in ``config.pretrained_embeddings`` vectors for ``vocab``; returns how many were found.

        The table is then rescaled to the std of the default initialisation (d_model^-0.5): forward
        multiplies token embeddings by sqrt(d_model), and raw GloVe at that scale would drown the positions.
        """
        table = self.encoder.embed_tokens.weight
        found = init_pretrained(self.encoder.embed_tokens, vocab, self.config.pretrained_embeddings)
        if found:
            rows = torch.arange(table.shape[0]) != self.config.pad_token_id
            table.mul_(self.config.d_model**-0.5 / table[rows].std())
        return found

    def num_parameters(self, trainable_only: bool = True) -> int:
        return num_parameters(self, trainable_only)


def num_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of `module`, each shared tensor counted once."""
    params = {id(p): p for p in module.parameters() if p.requires_grad or not trainable_only}
    return sum(p.numel() for p in params.values())
