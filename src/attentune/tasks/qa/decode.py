"""Span decoding: an example's best answer over all its windows, and its no-answer score.

In every window the ``n_best`` highest start and end logits over context tokens are paired; a pair is valid when
start <= end and the span has at most ``max_answer_tokens`` tokens, and scores start + end logit. The example's
answer is the best valid span of any window, cut from the original context by the tokens' character offsets
(the exact substring). Its no-answer score is the lowest ``[CLS]`` start + end over its windows (as Hugging Face's
SQuAD v2 post-processing does); v2.0 answers "" when that exceeds the best span's score by more than a threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from attentune.tasks.qa.data import QAExample
from attentune.tasks.qa.windows import Window


class Span(NamedTuple):
    """An answer span: its text, its score (start + end logit) and where it starts in the context (characters)."""

    text: str
    score: float
    start: int = -1


def decode(
    examples: Sequence[QAExample],
    windows: Sequence[Window],
    start_logits: Sequence[torch.Tensor],
    end_logits: Sequence[torch.Tensor],
    max_answer_tokens: int = 30,
    n_best: int = 20,
) -> tuple[dict[str, Span], dict[str, float]]:
    """``(best, null)``: ``id -> Span`` (``("", -inf, -1)`` when no window has a valid span) and
    ``id -> no-answer score``. ``start_logits[k]``/``end_logits[k]`` belong to ``windows[k]`` (1-D, its length)."""
    best = {ex.id: Span("", -float("inf")) for ex in examples}
    null: dict[str, float] = {}
    for w, s, e in zip(windows, start_logits, end_logits, strict=True):
        ex = examples[w.example]
        s, e = s[: len(w.input_ids)].float(), e[: len(w.input_ids)].float()
        null[ex.id] = min(null.get(ex.id, float("inf")), float(s[0] + e[0]))
        context = torch.from_numpy(w.context)
        if not context.any():
            continue
        k = min(n_best, int(context.sum()))
        starts = s.masked_fill(~context, -float("inf")).topk(k).indices.tolist()
        ends = e.masked_fill(~context, -float("inf")).topk(k).indices.tolist()
        for a in starts:
            for b in ends:
                if a <= b < a + max_answer_tokens and float(s[a] + e[b]) > best[ex.id][1]:
                    first, last = w.span(a, b)
                    best[ex.id] = Span(ex.context[first:last], float(s[a] + e[b]), first)
    return best, null


def answers(best: dict[str, Span], null: dict[str, float], threshold: float | None) -> dict[str, str]:
    """Final answers: the best span, or "" (no answer) when ``threshold`` is set (v2.0) and the no-answer score
    exceeds the span's by at least it."""
    if threshold is None:
        return {i: span[0] for i, span in best.items()}
    return {i: span[0] if null[i] - span[1] < threshold else "" for i, span in best.items()}  # (text, score, ...)
