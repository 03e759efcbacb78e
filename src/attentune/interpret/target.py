"""What an explanation explains: encoded examples, and the one number per example a method attributes.

An `Example` is a tokenised input with its special positions marked; `batch` pads a list of token-id lists as
training does (right padding, id 0). The explained number: for a classifier (`ClassTarget`) the logit of the
predicted class (integrated gradients' completeness holds for it) and that class's probability (what the
faithfulness metrics compare, as ERASER does); for extractive QA (`SpanTarget`) the start logit of the predicted
span's first token plus the end logit of its last. Both are called ``target(input_ids, attention_mask,
token_type_ids, what)`` with ``what`` the class (B,) or the span's (first, last) tokens (B, 2).
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


def model_inputs(examples: Sequence[Example]) -> tuple[Tensor, Tensor, Tensor]:
    """input_ids, attention_mask and token_type_ids (zeros where an example has none). Shapes: (B, T) each."""
    ids, mask = batch([e.ids for e in examples])
    types = torch.zeros_like(ids)
    for i, e in enumerate(examples):
        if e.token_type_ids is not None:
            types[i, : len(e.token_type_ids)] = torch.as_tensor(e.token_type_ids)
    return ids, mask, types


def batch(rows: Sequence[Sequence[int]], pad: int = 0) -> tuple[Tensor, Tensor]:
    """Right-padded ids and the real-token mask. Shapes: -> input_ids (B, T) long, attention_mask (B, T) bool."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(list(r), dtype=torch.long)
    mask = torch.arange(width) < torch.tensor([len(r) for r in rows])[:, None]
    return ids, mask


class ClassTarget(nn.Module):
    """A classifier as explanation methods call it: each row's logit of its class.

    Shapes: input_ids, attention_mask, token_type_ids (B, T), classes (B,) -> (B,).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor, classes: Tensor) -> Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return logits.float().gather(1, classes[:, None]).squeeze(1)  # (B, C) -> (B,)

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


class SpanTarget(nn.Module):
    """An extractive-QA model as explanation methods call it: the start logit at each row's first answer token
    plus the end logit at its last (the span's score, as decoding ranks spans).

    Shapes: input_ids, attention_mask, token_type_ids (B, T), spans (B, 2) -> (B,).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor, spans: Tensor) -> Tensor:
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        rows = torch.arange(len(spans), device=spans.device)
        return logits[rows, spans[:, 0], 0].float() + logits[rows, spans[:, 1], 1].float()  # (B, T, 2) -> (B,)
