"""The model contract: what every model family provides, so that training, tasks and explanation treat them alike.

- Construction: ``Family(vocab_size, num_classes, **hparams)`` (Hydra's ``_target_``); the hyperparameters are
  validated into the family's config dataclass (``config``), an unknown one is a one-line ``ConfigError``;
  ``head`` chooses what sits on the encoder (``heads.HEADS``: classification, or span for extractive QA).
- ``forward(input_ids (B, T), attention_mask (B, T), return_attention=False, token_type_ids=None)``: logits
  (B, num_classes), or (B, T, 2) start/end logits with ``head="span"``; with ``return_attention`` an
  ``EncoderOutput`` whose ``attentions`` hold one (B, H, T, T) tensor per layer (families that have attention).
- ``get_input_embeddings()``: the token embedding table (integrated gradients and embedding initialisation
  work on it); ``init_embeddings(vocab)`` copies in pretrained vectors where the config asks for them.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, TypeVar, runtime_checkable

from torch import Tensor, nn

from attentune.errors import ConfigError

C = TypeVar("C")


@runtime_checkable
class TextModel(Protocol):
    config: Any

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        return_attention: bool = False,
        token_type_ids: Tensor | None = None,
    ) -> Any: ...

    def get_input_embeddings(self) -> nn.Embedding: ...

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
