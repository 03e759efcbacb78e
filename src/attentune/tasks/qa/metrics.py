"""SQuAD exact match and F1, the official way (v1.1 and v2.0), with v2.0's no-answer threshold.

Answerable questions are scored by torchmetrics' ``SQuAD`` (the official normalisation: lower case, no
punctuation, no articles, single spaces; best over the gold answers). An unanswerable question (v2.0) scores 1
on both when the prediction is empty and 0 otherwise, as in the official v2.0 script; ``HasAns_``/``NoAns_``
give the two groups separately. Scores are fractions in [0, 1] (torchmetrics reports percentages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torchmetrics.functional.text import squad

from attentune.tasks.qa.data import QAExample


def per_question(predictions: Mapping[str, str], examples: Sequence[QAExample]) -> dict[str, tuple[float, float]]:
    """``id -> (exact, f1)`` for every example (a missing prediction is the empty answer)."""
    scores = {}
    for ex in examples:
        pred = predictions.get(ex.id, "")
        if not ex.answerable:
            scores[ex.id] = (float(pred == ""),) * 2
            continue
        target = {"answers": {"text": [t for t, _ in ex.answers], "answer_start": [s for _, s in ex.answers]}}
        out = squad([{"prediction_text": pred, "id": ex.id}], [target | {"id": ex.id}])
        scores[ex.id] = (float(out["exact_match"]) / 100, float(out["f1"]) / 100)
    return scores


def squad_scores(predictions: Mapping[str, str], examples: Sequence[QAExample]) -> dict[str, float]:
    """``exact``, ``f1`` over all examples; with unanswerable ones also ``HasAns_*`` and ``NoAns_*``."""
    scores = per_question(predictions, examples)
    out = _mean("", scores, [ex.id for ex in examples])
    if any(not ex.answerable for ex in examples):
        out |= _mean("HasAns_", scores, [ex.id for ex in examples if ex.answerable])
        out |= _mean("NoAns_", scores, [ex.id for ex in examples if not ex.answerable])
    return out


def _mean(prefix: str, scores: dict[str, tuple[float, float]], ids: list[str]) -> dict[str, float]:
    n = max(1, len(ids))
    return {f"{prefix}exact": sum(scores[i][0] for i in ids) / n, f"{prefix}f1": sum(scores[i][1] for i in ids) / n}


def best_threshold(
    best_spans: Mapping[str, tuple[str, float]], null_scores: Mapping[str, float], examples: Sequence[QAExample]
) -> float:
    """The no-answer threshold that maximises F1 (the official v2.0 ``find_best_thresh``).

    An example is answered with its best span when ``null_score - span_score < threshold``, else with "". The
    candidates are the examples' own score differences: every distinct decision is one of them.
    """
    f1 = {i: s[1] for i, s in per_question({i: span[0] for i, span in best_spans.items()}, examples).items()}
    answerable = {ex.id: ex.answerable for ex in examples}
    diffs = sorted((null_scores[i] - best_spans[i][1], i) for i in best_spans)
    # threshold below every diff: every answer is "" -> the no-answer questions score, answerable ones do not
    score = best = sum(not answerable[i] for i in best_spans)
    threshold = diffs[0][0] - 1.0 if diffs else 0.0
    for diff, i in diffs:  # raising the threshold past ``diff`` answers example i with its span
        score += f1[i] - (0.0 if answerable[i] else 1.0)
        if score > best:
            best, threshold = score, diff + 1e-6
    return threshold
