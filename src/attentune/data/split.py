"""Seeded train/val/test splits, stratified by label whenever the class sizes allow it."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from attentune.data.types import Split, TextDataset
from attentune.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def check_split_options(val_fraction: float, test_fraction: float, split_seed: int, prefix: str = "data") -> None:
    """Raise ``ConfigError`` unless the fractions are in [0, 1), leave rows for training, and the seed
    is a non-negative integer. Called before any data is read."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise ConfigError(f"{prefix}.{key}: must be a number in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise ConfigError(
            f"{prefix}.val_fraction + {prefix}.test_fraction: must be < 1 to leave rows for training, "
            f"got {val_fraction} + {test_fraction}"
        )
    if isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0:
        raise ConfigError(f"{prefix}.split_seed: must be a non-negative integer, got {split_seed!r}")


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """Rows for (val, test) out of ``n``: rounded up, so any fraction > 0 gets at least one row."""
    # The epsilon keeps float noise (10600 * 0.1 = 1060.0000000000002) from adding a row.
    return math.ceil(n * val_fraction - 1e-9), math.ceil(n * test_fraction - 1e-9)


def split_indices(
    labels: Sequence[int], val_fraction: float, test_fraction: float, seed: int, what: str = "data"
) -> tuple[list[int], list[int], list[int]]:
    """Split row indices into (train, val, test), seeded and stratified by label.

    Each class gives val and test a share proportional to its size (largest-remainder rounding, so the
    split sizes are exactly ``split_sizes``), and keeps at least one example in train. When the classes
    are too small for that (many singletons), the split falls back to plain random with a warning.
    Indices within each split come in a seeded random order.
    """
    labels_arr = np.asarray(labels, dtype=np.int64)
    n = len(labels_arr)
    n_val, n_test = split_sizes(n, val_fraction, test_fraction)
    if n - n_val - n_test < 1:
        raise DataError(
            f"{what}: too few rows ({n}) for val_fraction={val_fraction} and test_fraction={test_fraction}: "
            "no rows left for training"
        )
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels_arr, return_counts=True)
    if (counts - 1).sum() >= n_val + n_test:
        test_per_class = _allocate(n_test, counts, caps=counts - 1)
        val_per_class = _allocate(n_val, counts, caps=counts - 1 - test_per_class)
        by_class = np.argsort(labels_arr, kind="stable")  # class k's rows: by_class[ends[k] - counts[k]:ends[k]]
        ends = np.cumsum(counts)
        train, val, test = [], [], []
        for start, end, n_t, n_v in zip(ends - counts, ends, test_per_class, val_per_class, strict=True):
            rows = rng.permutation(by_class[start:end])
            test.append(rows[:n_t])
            val.append(rows[n_t : n_t + n_v])
            train.append(rows[n_t + n_v :])
        parts = [np.concatenate(p) for p in (train, val, test)]
    else:
        singletons = int((counts == 1).sum())
        log.warning(
            "%s: classes too small to stratify (%d of %d classes have a single example); splitting at "
            "random, so some classes may be missing from train",
            what,
            singletons,
            len(classes),
        )
        rows = rng.permutation(n)
        parts = [rows[n_test + n_val :], rows[n_test : n_test + n_val], rows[:n_test]]
    train_idx, val_idx, test_idx = (rng.permutation(p).tolist() for p in parts)
    return train_idx, val_idx, test_idx


def _allocate(total: int, counts: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Share ``total`` rows among classes in proportion to ``counts``, at most ``caps[c]`` each."""
    if caps.sum() < total:
        raise ValueError(f"cannot place {total} rows within per-class caps summing to {caps.sum()}")
    quotas = total * counts / counts.sum()
    alloc = np.minimum(np.floor(quotas).astype(np.int64), caps)
    # Largest remainder first; ties go to the lower class index (stable sort) for determinism.
    order = np.argsort(-(quotas - alloc), kind="stable")
    remaining = total - int(alloc.sum())
    while remaining > 0:
        for c in order:
            if remaining == 0:
                break
            if alloc[c] < caps[c]:
                alloc[c] += 1
                remaining -= 1
    return alloc


def take(texts: Sequence[str], labels: Sequence[int], idx: Sequence[int]) -> Split:
    """The rows ``idx`` of parallel ``texts``/``labels`` as a ``Split``."""
    return Split(texts=[texts[i] for i in idx], labels=[int(labels[i]) for i in idx])


def split_dataset(
    name: str,
    texts: Sequence[str],
    labels: Sequence[int],
    label_names: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    what: str = "data",
) -> TextDataset:
    """Split one labelled collection into a ``TextDataset`` with ``split_indices``."""
    train, val, test = split_indices(labels, val_fraction, test_fraction, seed, what=what)
    return TextDataset(
        name=name,
        train=take(texts, labels, train),
        val=take(texts, labels, val),
        test=take(texts, labels, test),
        label_names=list(label_names),
    )
