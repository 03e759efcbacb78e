"""Faithfulness of token rankings (ERASER, DeYoung et al. 2020, with ferret's conventions).

For the top k% of an example's ranked tokens (k = 10, 20, ..., 100; special tokens are never ranked):
- comprehensiveness: p(y | x) - p(y | x without them): high when the tokens a method ranks first matter;
- sufficiency: p(y | x) - p(y | only them): low when they are enough on their own;
each averaged over the k's (AOPC), with y the class predicted on x. "Without" means deleted (``deletion``) or
replaced by [UNK] (``unk``). Kendall's tau against leave-one-out says how far a ranking agrees with what deleting
each token alone does. Every figure is a mean over examples with a 95% bootstrap interval; ``versus_random``
is the per-example difference to the random ranking, with its interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import kendalltau

from attentune.interpret.target import ClassTarget, Example

FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 11))
MODES = ("deletion", "unk")


def top_positions(example: Example, scores: Sequence[float], fraction: float) -> list[int]:
    """The ceil(fraction x n) highest-scored non-special positions (ties: the earlier position first)."""
    words = example.words
    ranked = sorted(words, key=lambda p: (-scores[p], p))
    return ranked[: math.ceil(fraction * len(words))]


def perturb(example: Example, drop: set[int], mode: str, unk: int) -> list[int]:
    if mode == "deletion":
        return [t for p, t in enumerate(example.ids) if p not in drop]
    return [unk if p in drop else t for p, t in enumerate(example.ids)]


def aopc(
    target: ClassTarget,
    examples: Sequence[Example],
    classes: Sequence[int],
    rankings: dict[str, Sequence[Sequence[float]]],
    unk: int,
    batch_size: int = 128,
) -> dict[str, dict[str, np.ndarray]]:
    """Per method, ``{comprehensiveness/<mode>, sufficiency/<mode>}``: one AOPC per example. Shapes: (N,) each."""
    rows: list[list[int]] = [e.ids for e in examples]  # the full inputs first
    index: list[tuple[str, str, str, int]] = []  # (method, metric, mode, example) per perturbed row
    for method, scores in rankings.items():
        for i, e in enumerate(examples):
            words = set(e.words)
            for fraction in FRACTIONS:
                top = set(top_positions(e, scores[i], fraction))
                for mode in MODES:
                    rows.append(perturb(e, top, mode, unk))
                    index.append((method, "comprehensiveness", mode, i))
                    rows.append(perturb(e, words - top, mode, unk))
                    index.append((method, "sufficiency", mode, i))
    probs = target.probabilities(rows, batch_size).numpy()
    cls = np.asarray(classes)
    full = probs[np.arange(len(examples)), cls]  # (N,)
    sums: dict[str, dict[str, np.ndarray]] = {
        m: {
            f"{metric}/{mode}": np.zeros(len(examples))
            for metric in ("comprehensiveness", "sufficiency")
            for mode in MODES
        }
        for m in rankings
    }
    for k, (method, metric, mode, i) in enumerate(index):
        sums[method][f"{metric}/{mode}"][i] += full[i] - probs[len(examples) + k, cls[i]]
    return {m: {key: v / len(FRACTIONS) for key, v in d.items()} for m, d in sums.items()}


def kendall_with(
    examples: Sequence[Example], scores: Sequence[Sequence[float]], reference: Sequence[Sequence[float]]
) -> np.ndarray:
    """Kendall's tau between two rankings of each example's non-special tokens (NaN under two tokens)."""
    out = np.full(len(examples), np.nan)
    for i, e in enumerate(examples):
        words = e.words
        if len(words) >= 2:
            a, b = [scores[i][p] for p in words], [reference[i][p] for p in words]
            out[i] = kendalltau(a, b).statistic
    return out


def bootstrap(values: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95% percentile-bootstrap interval of ``values`` (NaNs left out)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    means = np.random.default_rng(seed).choice(v, (n, len(v))).mean(1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
