"""A lexical baseline for extractive QA, the floor a model's EM/F1 should be read against.

The context sentence sharing the most words with the question is taken as the one that answers it; the answer is
the longest run of that sentence's words that the question does not contain (in a cloze-like question, the gap).
With unanswerable questions (v2.0) it answers nothing when the share of question words found in that sentence is
below a threshold chosen on the validation split (the one maximising F1). No learning, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attentune.tasks.qa.data import QAExample
from attentune.tasks.qa.metrics import best_threshold, squad_scores

_WORD = re.compile(r"\w+")
_SENTENCE = re.compile(r"[^.!?]+[.!?]*")


def lexical_answer(question: str, context: str) -> tuple[str, float]:
    """(answer, overlap): the best sentence's longest run of words absent from the question, and the share of the
    question's words that sentence contains."""
    asked = {w.lower() for w in _WORD.findall(question)}
    best: tuple[int, list[re.Match]] = (-1, [])
    for sentence in _SENTENCE.finditer(context):
        words = list(_WORD.finditer(context, sentence.start(), sentence.end()))
        shared = len({w.group().lower() for w in words} & asked)
        if shared > best[0]:
            best = (shared, words)
    shared, words = best
    runs, run = [], []
    for w in words:
        if w.group().lower() in asked:
            runs.append(run)
            run = []
        else:
            run.append(w)
    runs.append(run)
    longest = max(runs, key=len, default=[])
    answer = context[longest[0].start() : longest[-1].end()] if longest else ""
    return answer, shared / max(1, len(asked))


def baseline_scores(val: Sequence[QAExample], test: Sequence[QAExample]) -> dict[str, float]:
    """EM/F1 (and HasAns/NoAns) on ``test``; the no-answer threshold on overlap is chosen on ``val``."""

    def predict(examples: Sequence[QAExample]) -> tuple[dict, dict]:
        found = {ex.id: lexical_answer(ex.question, ex.context) for ex in examples}
        # in decode's terms: span score = overlap, null score = 0 (answer when 0 - overlap < threshold)
        return {i: (a, o) for i, (a, o) in found.items()}, {i: 0.0 for i in found}

    has_no_answer = any(not ex.answerable for ex in val)
    threshold = best_threshold(*predict(val), val) if has_no_answer else None
    best, null = predict(test)
    answers = {i: a if threshold is None or null[i] - o < threshold else "" for i, (a, o) in best.items()}
    return squad_scores(answers, test) | ({"threshold": threshold} if threshold is not None else {})
