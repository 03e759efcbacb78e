"""What an explanation explains: encoded examples, and the one number per example a method attributes.

An `Example` is a tokenised input with its special positions marked; `batch` pads a list of token-id lists as
training does (right padding, id 0). The explained number (`ClassTarget`): the logit of the predicted class
(attribution methods: integrated gradients' completeness holds for it) and that class's probability (what the
faithfulness metrics compare, as ERASER does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from tokenizers import Tokenizer
from torch import Tensor, nn


@dataclass
class Example:
    """One encoded input. ``special`` marks [CLS]/[SEP]-like positions: never ranked, removed or replaced."""

    text: str
    ids: list[int]
    tokens: list[str]
    special: list[bool]
    label: int | None = None
    token_type_ids: list[int] | None = None

    @property
    def words(self) -> list[int]:
        """Positions an explanation ranks (not special)."""
        return [i for i, s in enumerate(self.special) if not s]


@dataclass
class Vocabulary:
    """The ids an explanation needs from its tokenizer."""

    pad: int
    unk: int
    special: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Vocabulary:
        special = {i: t.content for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
        by_name = {name: i for i, name in special.items()}
        unk = next((by_name[n] for n in ("[UNK]", "<unk>", "<UNK>") if n in by_name), by_name.get("[PAD]", 0))
        return cls(pad=by_name.get("[PAD]", 0), unk=unk, special=set(special))


def encode(tokenizer: Tokenizer, texts: Sequence[str], labels: Sequence[int] | None = None) -> list[Example]:
    """The tokenizer's encodings as `Example`s (its truncation applies, as in training)."""
    out = []
    for i, enc in enumerate(tokenizer.encode_batch(list(texts))):
        label = None if labels is None else int(labels[i])
        special = [bool(s) for s in enc.special_tokens_mask]
        out.append(Example(texts[i], list(enc.ids), list(enc.tokens), special, label))
    return out


def batch(rows: Sequence[Sequence[int]], pad: int = 0) -> tuple[Tensor, Tensor]:
    """Right-padded ids and the real-token mask. Shapes: -> input_ids (B, T) long, attention_mask (B, T) bool."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
    mask = torch.arange(width) < torch.tensor([len(r) for r in rows])[:, None]
    return ids, mask


class ClassTarget(nn.Module):
    """A classifier as explanation methods call it: ``forward(ids, mask, classes)`` is each row's logit of its class.

    Shapes: input_ids (B, T), attention_mask (B, T), classes (B,) -> (B,).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, classes: Tensor) -> Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask)  # (B, C)
        return logits.float().gather(1, classes[:, None]).squeeze(1)

    @torch.no_grad()
    def probabilities(self, rows: Sequence[Sequence[int]], batch_size: int = 128) -> Tensor:
        """Class probabilities of token-id lists, batched by length so each batch pads little.

        Shapes: N rows -> (N, C).
        """
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out: list[Tensor] = []
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask = batch([rows[i] for i in chunk])
            out.append(self.model(input_ids=ids, attention_mask=mask).float().softmax(-1))
        probs = torch.cat(out)
        result = torch.empty_like(probs)
        result[torch.tensor(order)] = probs
        return result
