"""A lexical baseline for extractive QA, the floor a model's EM/F1 should be read against.

The context sentence sharing the most words with the question is taken as the one that answers it; the answer is
the longest run of that sentence's words that the question does not contain (in a cloze-like question, the gap).
With unanswerable questions (v2.0) it answers nothing when the share of question words found in that sentence is
below a threshold chosen on the validation split (the one maximising F1). No learning, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attentune.tasks.qa.data import QADataset, QAExample
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


def _predict(examples: Sequence[QAExample]) -> tuple[dict[str, tuple[str, float]], dict[str, float]]:
    """In decoding's terms: the span's score is the overlap, the no-answer score 0 (answered when ``-overlap <
    threshold``)."""
    found = {ex.id: lexical_answer(ex.question, ex.context) for ex in examples}
    return found, {i: 0.0 for i in found}


def _answers(found: dict[str, tuple[str, float]], threshold: float | None) -> dict[str, str]:
    return {i: a if threshold is None or -o < threshold else "" for i, (a, o) in found.items()}


def baseline_scores(val: Sequence[QAExample], test: Sequence[QAExample]) -> dict[str, float]:
    """EM/F1 (and HasAns/NoAns) on ``test``; the no-answer threshold on overlap is chosen on ``val``."""
    threshold = best_threshold(*_predict(val), val) if any(not ex.answerable for ex in val) else None
    scores = squad_scores(_answers(_predict(test)[0], threshold), test)
    return scores | ({"threshold": threshold} if threshold is not None else {})


def lexical_reference(dataset: QADataset) -> dict:
    """The baseline as a leaderboard reference row: its val and test scores under the trials' keys."""
    scores = baseline_scores(dataset.val, dataset.test)
    val = squad_scores(_answers(_predict(dataset.val)[0], scores.get("threshold")), dataset.val)
    test = {f"test/{k}": v for k, v in scores.items() if k != "threshold"}
    return {
        "model": "lexical overlap (no learning)",
        "val/f1": val["f1"],
        "val/exact": val["exact"],
        **test,  # no parameters: the leaderboard shows "–"
    }
