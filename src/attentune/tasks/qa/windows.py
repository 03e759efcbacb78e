"""Question + context as token windows: ``[CLS] question [SEP] context [SEP]``, long contexts in overlapping windows.

The fast tokenizer's offsets map every context token back to its characters, so an answer's characters become
start/end token positions in each window that holds it whole (position 0, ``[CLS]``, in the others: "no answer
here"), and a predicted span becomes the exact substring of the original context. Consecutive windows share
``stride`` context tokens, so an answer cut by one window's edge lies whole inside the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.tasks.qa.data import QAExample


@dataclass(frozen=True)
class Window:
    index: int  # its position among the split's windows (DDP ranks validate shards: decoding reassembles them)
    example: int  # index of its example in the split
    input_ids: list[int]
    type_ids: list[int]  # 0: [CLS] and the question, 1: the context (segment ids, for models that have them)
    offsets: list[tuple[int, int] | None]  # a context token's characters in the context; None elsewhere
    start: int  # the answer's first and last token, 0 ([CLS]) when the window does not hold it whole
    end: int


def window_tokenizer(tokenizer: Tokenizer, max_length: int, stride: int, max_question_tokens: int = 64) -> Tokenizer:
    """A copy of ``tokenizer`` that truncates the context only, to windows of ``max_length`` sharing ``stride``."""
    if stride < 0 or stride + max_question_tokens + 3 >= max_length:  # 3: [CLS] and two [SEP]
        raise ConfigError(
            f"task.stride={stride} + task.max_question_tokens={max_question_tokens} leave no new context in a window "
            f"of max_length={max_length}: lower them or raise max_length"
        )
    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, stride=stride, strategy="only_second")
    return tok


def encode_windows(tokenizer: Tokenizer, examples: Sequence[QAExample], max_question_tokens: int = 64) -> list[Window]:
    """Every window of every example (``tokenizer`` from :func:`window_tokenizer`), in example order."""
    questions = _shorten(tokenizer, [ex.question for ex in examples], max_question_tokens)
    encodings = tokenizer.encode_batch(list(zip(questions, [ex.context for ex in examples], strict=True)))
    windows = []
    for i, (ex, enc) in enumerate(zip(examples, encodings, strict=True)):
        answer = (ex.answers[0][1], ex.answers[0][1] + len(ex.answers[0][0])) if ex.answers else None
        for part in [enc, *enc.overflowing]:
            offsets = [o if s == 1 else None for o, s in zip(part.offsets, part.sequence_ids, strict=True)]
            start, end = _answer_tokens(offsets, answer)
            types = [int(s == 1) for s in part.sequence_ids]
            windows.append(Window(len(windows), i, part.ids, types, offsets, start, end))
    return windows


def _shorten(tokenizer: Tokenizer, questions: list[str], max_tokens: int) -> list[str]:
    """Each question cut after ``max_tokens`` tokens (a long question would leave no room for the context)."""
    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    encodings = plain.encode_batch(questions, add_special_tokens=False)
    return [
        q if len(e.ids) <= max_tokens else q[: e.offsets[max_tokens - 1][1]]
        for q, e in zip(questions, encodings, strict=True)
    ]


def _answer_tokens(offsets: list[tuple[int, int] | None], answer: tuple[int, int] | None) -> tuple[int, int]:
    if answer is None:
        return 0, 0
    first, last = answer
    context = [(t, o) for t, o in enumerate(offsets) if o is not None and o[1] > o[0]]
    if not context or context[0][1][0] > first or context[-1][1][1] < last:
        return 0, 0  # the answer is not whole inside this window
    start = next(t for t, (a, b) in context if b > first)
    end = next(t for t, (a, b) in reversed(context) if a < last)
    return (start, end) if start <= end else (0, 0)


def collate_windows(windows: Sequence[Window], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """A batch of windows, padded to its longest: input_ids, attention_mask, token_type_ids, start/end positions,
    and each window's ``index``."""
    width = max(len(w.input_ids) for w in windows)
    ids = torch.full((len(windows), width), pad_id, dtype=torch.long)
    types = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.bool)
    for row, w in enumerate(windows):
        n = len(w.input_ids)
        ids[row, :n] = torch.tensor(w.input_ids)
        types[row, :n] = torch.tensor(w.type_ids)
        mask[row, :n] = True
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types,
        "start_positions": torch.tensor([w.start for w in windows]),
        "end_positions": torch.tensor([w.end for w in windows]),
        "index": torch.tensor([w.index for w in windows]),
    }
