"""The model contract: what every model family provides, so that training, tasks and explanation treat them alike.

- Construction: ``Family(vocab_size, num_classes, **hparams)`` (Hydra's ``_target_``); the hyperparameters are
  validated into the family's config dataclass (``config``), an unknown one is a one-line ``ConfigError``;
  ``head`` chooses what sits on the encoder (``heads.HEADS``: classification, or span for extractive QA).
- ``forward(input_ids (B, T), attention_mask (B, T) = None, *, token_type_ids=None, return_attention=False)``:
  logits (B, num_classes), or (B, T, 2) start/end logits with ``head="span"``. ``attention_mask`` is 1 at real
  tokens; omitted, it is ``input_ids != pad_token_id``. With ``return_attention`` an ``EncoderOutput`` whose
  ``attentions`` hold one (B, H, T, T) tensor per layer (empty for the families without attention).
- ``attention_heads()``: per layer, the module whose input is that layer's heads' contexts side by side (head h in
  columns ``h * head_dim:(h + 1) * head_dim``) and the number of heads: a forward pre-hook there masks heads.
  Empty for the families without attention.
- ``get_input_embeddings()``: the token embedding table (integrated gradients and embedding initialisation
  work on it); ``init_embeddings(vocab)`` copies in pretrained vectors where the config asks for them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch
from torch import Tensor, nn

from attentune.errors import ConfigError

C = TypeVar("C")


@dataclass
class EncoderOutput:
    """What ``forward(..., return_attention=True)`` returns, for every family.

    Shapes: logits (B, num_classes) or (B, T, 2); attentions: one (B, H, T, T) tensor per layer, zero on padded
    keys (empty for families without attention); pooling: (B, T), how the pooled vector weighs each position
    (``Pooler.weights``; None for max pooling, span heads and families without attention).
    """

    logits: Tensor
    attentions: tuple[Tensor, ...]
    pooling: Tensor | None = None


def real_tokens(input_ids: Tensor, attention_mask: Tensor | None, pad_token_id: int) -> Tensor:
    """The boolean mask of real tokens: ``attention_mask``, or where it is omitted, ``input_ids != pad``.

    Shapes: (B, T), (B, T) or None -> (B, T) bool.
    """
    return input_ids != pad_token_id if attention_mask is None else attention_mask.bool()


def unless_unpadded(padding_mask: Tensor | None) -> Tensor | None:
    """``padding_mask``, or None when nothing is padded (the fast paths). An exported graph keeps the mask: its
    batches may be padded, and a data-dependent branch cannot be traced (``torch.export``, ONNX).

    Shapes: (B, T) bool or None -> the same or None.
    """
    if padding_mask is None or torch.compiler.is_exporting() or padding_mask.any():
        return padding_mask
    return None


@runtime_checkable
class TextModel(Protocol):
    config: Any

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        *,
        token_type_ids: Tensor | None = None,
        return_attention: bool = False,
    ) -> Any: ...

    def get_input_embeddings(self) -> nn.Embedding: ...

    def attention_heads(self) -> list[tuple[nn.Module, int]]: ...

    def init_embeddings(self, vocab: dict[str, int]) -> int: ...


def make_config(config_cls: type[C], family: str, **hparams: Any) -> C:
    """``config_cls(**hparams)``, with an unknown hyperparameter as a one-line ``ConfigError``."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise ConfigError(
            f"model: {family} has no parameter {', '.join(unknown)} (it takes {', '.join(sorted(known))})"
        )
    return config_cls(**hparams)
