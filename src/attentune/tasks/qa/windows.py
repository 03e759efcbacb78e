"""Question + context as token windows: ``[CLS] question [SEP] context [SEP]``, long contexts in overlapping windows.

The fast tokenizer's offsets map every context token back to its characters, so an answer's characters become
start/end token positions in each window that holds it whole (position 0, ``[CLS]``, in the others: "no answer
here"), and a predicted span becomes the exact substring of the original context. Consecutive windows share
``stride`` context tokens, so an answer cut by one window's edge lies whole inside the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Encoding, Tokenizer

from attentune.errors import ConfigError
from attentune.tasks.qa.data import QAExample

CHUNK = 1000  # examples encoded at a time


@dataclass(frozen=True, eq=False)
class Window:
    """One window of an example, in compact arrays (a SQuAD-sized split holds ~10^5 of them per process)."""

    index: int  # its position among the split's windows (DDP ranks validate shards: decoding reassembles them)
    example: int  # index of its example in the split
    input_ids: np.ndarray  # (T,) int32
    type_ids: np.ndarray  # (T,) int8: 0 for [CLS] and the question, 1 for the context (segment ids)
    offsets: np.ndarray  # (T, 2) int32: a context token's characters in the context; -1 elsewhere
    start: int  # the answer's first and last token, 0 ([CLS]) when the window does not hold it whole
    end: int

    @property
    def context(self) -> np.ndarray:
        """(T,) bool: which tokens are context (the only ones an answer can start or end at)."""
        return self.offsets[:, 0] >= 0

    def span(self, first: int, last: int) -> tuple[int, int]:
        """The characters of the context from token ``first`` to token ``last`` (both context tokens)."""
        return int(self.offsets[first, 0]), int(self.offsets[last, 1])


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
    windows: list[Window] = []
    plain = Tokenizer.from_str(tokenizer.to_str())  # questions are measured untruncated
    plain.no_truncation()
    for chunk in range(0, len(examples), CHUNK):  # the tokenizer's encodings are large: a few at a time
        part = examples[chunk : chunk + CHUNK]
        questions = _shorten(plain, [ex.question for ex in part], max_question_tokens)
        encodings = tokenizer.encode_batch(list(zip(questions, [ex.context for ex in part], strict=True)))
        for i, (ex, enc) in enumerate(zip(part, encodings, strict=True), start=chunk):
            answer = (ex.answers[0][1], ex.answers[0][1] + len(ex.answers[0][0])) if ex.answers else None
            for piece in [enc, *enc.overflowing]:
                windows.append(_window(len(windows), i, piece, answer))
    return windows


def _window(index: int, example: int, enc: Encoding, answer: tuple[int, int] | None) -> Window:
    offsets = [o if s == 1 else None for o, s in zip(enc.offsets, enc.sequence_ids, strict=True)]
    start, end = _answer_tokens(offsets, answer)
    ids = np.asarray(enc.ids, dtype=np.int32)
    types = np.asarray([s == 1 for s in enc.sequence_ids], dtype=np.int8)
    chars = np.asarray([o if o is not None else (-1, -1) for o in offsets], dtype=np.int32).reshape(-1, 2)
    return Window(index, example, ids, types, chars, start, end)


def _shorten(plain: Tokenizer, questions: list[str], max_tokens: int) -> list[str]:
    """Each question cut after ``max_tokens`` tokens (a long question would leave no room for the context)."""
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
        ids[row, :n] = torch.from_numpy(w.input_ids)
        types[row, :n] = torch.from_numpy(w.type_ids)
        mask[row, :n] = True
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": types,
        "start_positions": torch.tensor([w.start for w in windows]),
        "end_positions": torch.tensor([w.end for w in windows]),
        "index": torch.tensor([w.index for w in windows]),
    }
