"""Feature selection on the vocabulary: keep a fraction of the tokens, the rest become [UNK].

The kept vocabulary is written into the tokenizer itself (its WordPiece / character vocabulary, renumbered), so
the run's saved tokenizer, its model's embedding table and every later ``predict.py`` / ``explain.py`` agree
without a separate mask. Which tokens: ``frequency`` (most frequent in the training texts), ``random`` (seeded),
or ``attention`` (the highest token scores in a file: ``select_features.py`` writes one from a checkpoint's
attention rollout). Special tokens are always kept.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.tokenization.tokenizer import SPECIAL_TOKENS

SELECTORS = ("frequency", "random", "attention")
_RESTRICTABLE = ("WordPiece", "WordLevel")  # wordpiece and char tokenizers: a plain token -> id vocabulary


def check_selection(keep_fraction: float, method: str, scores: str | None) -> None:
    if not 0.0 < float(keep_fraction) <= 1.0:
        raise ConfigError(f"feature_selection.keep_fraction must be in (0, 1], got {keep_fraction}")
    if method not in SELECTORS:
        raise ConfigError(f"feature_selection.method: unknown {method!r}; choose one of {', '.join(SELECTORS)}")
    if method == "attention" and not scores:
        raise ConfigError("feature_selection.method=attention needs feature_selection.scores=<token_scores.json>")


def select_vocabulary(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    keep_fraction: float,
    method: str = "frequency",
    scores: str | None = None,
    seed: int = 0,
) -> Tokenizer:
    """``tokenizer`` with ``keep_fraction`` of its non-special vocabulary, chosen by ``method``."""
    check_selection(keep_fraction, method, scores)
    if keep_fraction >= 1.0:
        return tokenizer
    data = json.loads(tokenizer.to_str())
    if data["model"]["type"] not in _RESTRICTABLE:
        raise ConfigError(
            f"feature_selection: the {data['model']['type']} tokenizer's vocabulary cannot be cut down; "
            "use tokenizer=wordpiece or tokenizer=char"
        )
    vocab: dict[str, int] = data["model"]["vocab"]
    candidates = [t for t in sorted(vocab, key=vocab.__getitem__) if t not in SPECIAL_TOKENS]
    n_keep = max(1, round(keep_fraction * len(candidates)))
    ranked = rank(tokenizer, texts, candidates, method, scores, seed)
    keep = set(ranked[:n_keep]) | set(SPECIAL_TOKENS)
    kept = [t for t in sorted(vocab, key=vocab.__getitem__) if t in keep]  # the old order: specials first
    data["model"]["vocab"] = {t: i for i, t in enumerate(kept)}
    old_to_new = {vocab[t]: i for i, t in enumerate(kept)}
    for added in data.get("added_tokens", []):
        added["id"] = old_to_new[added["id"]]
    return Tokenizer.from_str(json.dumps(data))


def rank(
    tokenizer: Tokenizer, texts: Sequence[str], candidates: list[str], method: str, scores: str | None, seed: int
) -> list[str]:
    """The candidate tokens, most wanted first."""
    if method == "random":
        shuffled = list(candidates)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    counts = Counter(t for enc in tokenizer.encode_batch(list(texts)) for t in enc.tokens)
    if method == "frequency":
        return sorted(candidates, key=lambda t: -counts[t])
    path = Path(str(scores))
    if not path.is_file():
        raise ConfigError(f"feature_selection.scores: no such file: {path}")
    weight = json.loads(path.read_text())
    # tokens the scores never saw rank after every scored one, by frequency among themselves
    return sorted(candidates, key=lambda t: (t not in weight, -weight.get(t, 0.0), -counts[t]))
