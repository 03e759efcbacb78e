"""Explanations of a classifier's predictions: every method's token scores, their faithfulness, head importance.

`explain_examples` runs the methods on encoded examples (each timed); `faithfulness_table` measures them;
`head_importance` (``interpret/heads.py``) ranks the heads. ``reports/explanation.py`` renders the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from attentune.interpret import attributions as attr
from attentune.interpret.attention import attention_scores
from attentune.interpret.faithfulness import aopc, bootstrap, kendall_with
from attentune.interpret.methods import ATTENTION_METHODS, METHODS, check_methods
from attentune.interpret.target import ClassTarget, Example, Vocabulary


@dataclass
class Explanations:
    examples: list[Example]
    probs: np.ndarray  # (N, C) on the full inputs
    predicted: list[int]
    scores: dict[str, list[list[float]]]  # method -> per example, per token
    seconds: dict[str, float]  # method -> wall time for all examples
    ig: attr.IGResult | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # method -> why it did not run


def explain_examples(
    model: nn.Module,
    examples: Sequence[Example],
    vocab: Vocabulary,
    methods: Sequence[str] = METHODS,
    *,
    batch_size: int = 64,
    ig_steps: int = 32,
    ig_max_steps: int = 512,
    internal_batch_size: int = 256,
    seed: int = 0,
) -> Explanations:
    """Each method's scores for the class ``model`` predicts on each example, in fp32 and eval mode."""
    model = model.float().eval()
    target = ClassTarget(model)
    examples = list(examples)
    probs = target.probabilities([e.ids for e in examples], batch_size).numpy()
    classes = probs.argmax(1).tolist()
    out = Explanations(examples, probs, classes, {}, {})
    has_attention = bool(model.attention_heads())
    for method in check_methods(methods):
        if method in ATTENTION_METHODS and not has_attention:
            out.skipped[method] = "this model has no attention"
            continue
        start = time.perf_counter()
        if method == "integrated_gradients":
            out.ig = _chunked(examples, batch_size, lambda ex, idx: attr.integrated_gradients(
                target, ex, [classes[i] for i in idx], vocab, n_steps=ig_steps, max_steps=ig_max_steps,
                internal_batch_size=internal_batch_size,
            ), merge=_merge_ig)  # fmt: skip
            out.scores[method] = out.ig.scores
        elif method == "gradient_x_input":
            out.scores[method] = _chunked(
                examples, batch_size, lambda ex, idx: attr.gradient_x_input(target, ex, [classes[i] for i in idx])
            )
        elif method == "leave_one_out":
            out.scores[method] = attr.leave_one_out(target, examples, classes, batch_size)
        elif method in ATTENTION_METHODS:
            out.scores[method] = _chunked(
                examples, batch_size, lambda ex, idx, m=method: attention_scores(model, [e.ids for e in ex])[m]
            )
        else:
            out.scores[method] = attr.random_scores(examples, seed)
        out.seconds[method] = time.perf_counter() - start
    return out


def _chunked(examples: list[Example], size: int, fn: Callable, merge: Callable | None = None) -> Any:
    """``fn(chunk, indices)`` over chunks of examples sorted by length (little padding); results in input order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    parts = []
    for lo in range(0, len(order), size):
        idx = order[lo : lo + size]
        parts.append((idx, fn([examples[i] for i in idx], idx)))
    if merge is not None:
        return merge(parts, len(examples))
    result: list[Any] = [None] * len(examples)
    for idx, values in parts:
        for i, v in zip(idx, values, strict=True):
            result[i] = v
    return result


def _merge_ig(parts, n: int) -> attr.IGResult:
    scores: list[Any] = [None] * n
    steps, rel = [0] * n, [0.0] * n
    for idx, r in parts:
        for j, i in enumerate(idx):
            scores[i], steps[i], rel[i] = r.scores[j], r.steps[j], r.relative_delta[j]
    return attr.IGResult(scores, steps, rel)


def faithfulness_table(
    model: nn.Module, ex: Explanations, vocab: Vocabulary, batch_size: int = 128, seed: int = 0
) -> list[dict[str, Any]]:
    """One row per method: comprehensiveness and sufficiency AOPC (deletion and [UNK]), Kendall's tau with
    leave-one-out, each ``(mean, lo, hi)``, and the paired difference to random (``vs_random/<metric>``)."""
    target = ClassTarget(model.float().eval())
    per = aopc(target, ex.examples, ex.predicted, ex.scores, vocab.unk, batch_size)
    loo = ex.scores.get("leave_one_out")
    rows = []
    for method, metrics in per.items():
        row: dict[str, Any] = {"method": method, "seconds": round(ex.seconds.get(method, 0.0), 2)}
        for key, values in metrics.items():
            row[key] = bootstrap(values, seed=seed)
            if "random" in per and method != "random":
                row[f"vs_random/{key}"] = bootstrap(values - per["random"][key], seed=seed)
        if loo is not None and method != "leave_one_out":
            row["kendall_loo"] = bootstrap(kendall_with(ex.examples, ex.scores[method], loo), seed=seed)
        rows.append(row)
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """In words: which methods beat the random ranking, on which metric, and by how much (95% intervals)."""
    lines = []
    for row in rows:
        if row["method"] == "random":
            continue
        wins, losses = [], []
        for key in ("comprehensiveness/deletion", "comprehensiveness/unk", "sufficiency/deletion", "sufficiency/unk"):
            diff = row.get(f"vs_random/{key}")
            if diff is None:
                continue
            mean, lo, hi = diff
            better = lo > 0 if key.startswith("comprehensiveness") else hi < 0  # lower sufficiency is better
            worse = hi < 0 if key.startswith("comprehensiveness") else lo > 0
            text = f"{key} by {mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            (wins if better else losses if worse else []).append(text)
        if wins and not losses:
            lines.append(f"{row['method']} beats random on every measured metric: " + "; ".join(wins))
        elif wins:
            lines.append(f"{row['method']} beats random on " + "; ".join(wins) + "; loses on " + "; ".join(losses))
        elif losses:
            lines.append(f"{row['method']} does worse than random: " + "; ".join(losses))
        else:
            lines.append(f"{row['method']} does not beat random: every interval includes 0")
    return lines


def global_tokens(
    ex: Explanations, method: str, cls: int, top: int = 15, min_count: int = 3
) -> list[tuple[str, float, int]]:
    """The tokens with the largest mean score over the examples predicted as ``cls`` where they occur."""
    total: dict[str, float] = {}
    count: dict[str, int] = {}
    for e, scores, pred in zip(ex.examples, ex.scores[method], ex.predicted, strict=True):
        if pred != cls:
            continue
        for p in e.words:
            total[e.tokens[p]] = total.get(e.tokens[p], 0.0) + scores[p]
            count[e.tokens[p]] = count.get(e.tokens[p], 0) + 1
    means = [(t, total[t] / count[t], count[t]) for t in total if count[t] >= min_count]
    return sorted(means, key=lambda x: -x[1])[:top]
