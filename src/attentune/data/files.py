"""The user's own data: a labelled text dataset from .csv / .tsv / .jsonl / .parquet files.

Either ``path`` (one file, split into train/val/test) or ``train_path`` with optional ``val_path`` and
``test_path`` (a split that is not given is carved out of the training file with its fraction).
Label names are the sorted distinct labels of the training file, as strings; integer labels keep
their numeric order (2 before 10).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path

from attentune.data.split import check_split_options, split_indices, take
from attentune.data.tables import check_table_file, read_columns
from attentune.data.types import Split, TextDataset
from attentune.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_INT = re.compile(r"-?(0|[1-9][0-9]*)")


def load_csv(
    path: str | None = None,
    train_path: str | None = None,
    val_path: str | None = None,
    test_path: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
    delimiter: str | None = None,
    name: str | None = None,
) -> TextDataset:
    """Load a text-classification dataset from the user's files (see the module docstring).

    ``val_fraction``/``test_fraction`` are fractions of the single or training file and only apply to
    splits that have no file of their own. ``delimiter`` overrides the one of a .csv (",") or .tsv
    ("\\t") extension; ``name`` defaults to the file's stem.
    """
    check_split_options(val_fraction, test_fraction, split_seed)
    files = _resolve_files(path, train_path, val_path, test_path)
    if text_column == label_column:
        raise ConfigError(f"data.label_column: must differ from data.text_column (both {text_column!r})")
    for role, fraction in (("val", val_fraction), ("test", test_fraction)):
        if role not in files and fraction == 0:
            raise ConfigError(
                f"data.{role}_fraction: must be > 0 when data.{role}_path is not set (the {role} split would be empty)"
            )
    for key, file in files.values():
        check_table_file(file, key)  # a bad extension or a missing file fails before any file is read

    rows = {role: _read_rows(file, key, text_column, label_column, delimiter) for role, (key, file) in files.items()}
    train_key = files["train"][0]
    train_texts, train_labels = rows["train"]
    label_names = sort_labels(set(train_labels))
    if len(label_names) < 2:
        raise DataError(
            f"{train_key}: only one class ({label_names[0]!r}) in column {label_column!r}; "
            "classification needs at least 2"
        )
    index = {label: i for i, label in enumerate(label_names)}
    y_train = [index[label] for label in train_labels]

    splits: dict[str, Split] = {}
    for role in ("val", "test"):
        if role in files:
            texts, labels = rows[role]
            _check_known_labels(files[role][0], labels, index)
            splits[role] = Split(texts=texts, labels=[index[label] for label in labels])
    carve_val = 0.0 if "val" in files else val_fraction
    carve_test = 0.0 if "test" in files else test_fraction
    if carve_val or carve_test:
        train, val, test = split_indices(y_train, carve_val, carve_test, split_seed, what=train_key)
        splits["train"] = take(train_texts, y_train, train)
        splits.setdefault("val", take(train_texts, y_train, val))
        splits.setdefault("test", take(train_texts, y_train, test))
    else:
        splits["train"] = Split(texts=train_texts, labels=y_train)

    dataset = TextDataset(
        name=name or files["train"][1].stem,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        label_names=label_names,
    )
    _warn_overlap(dataset)
    return dataset


def sort_labels(labels: set[str]) -> list[str]:
    """Labels in class-index order: numeric if every label is a plain integer, else lexicographic."""
    if all(_INT.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def label_str(value: Any) -> str | None:
    """A label value from any reader as a string (``None`` when missing): 3, 3.0 and "3" are all "3"."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    label = str(value).strip()
    return label or None


def _resolve_files(
    path: str | None, train_path: str | None, val_path: str | None, test_path: str | None
) -> dict[str, tuple[str, Path]]:
    """{role: (config key, absolute path)} for the files given; ``ConfigError`` for a bad combination."""
    if path is not None and train_path is not None:
        raise ConfigError("data.path: set either data.path (one file, split automatically) or data.train_path")
    if path is not None:
        for key, value in (("data.val_path", val_path), ("data.test_path", test_path)):
            if value is not None:
                raise ConfigError(f"{key}: only used with data.train_path; with data.path all splits come from it")
        given = {"train": ("data.path", path)}
    elif train_path is not None:
        given = {"train": ("data.train_path", train_path), "val": ("data.val_path", val_path)}
        given["test"] = ("data.test_path", test_path)
    elif val_path is not None or test_path is not None:
        raise ConfigError("data.train_path: not set; data.val_path and data.test_path need it")
    else:
        raise ConfigError(
            "data.path: not set; set data.path=<file> (split automatically) or data.train_path=<file> "
            "(optionally with data.val_path, data.test_path)"
        )
    # Relative paths are relative to where the user launched the run, even if Hydra changed directory.
    return {
        role: (key, Path(to_absolute_path(str(Path(value).expanduser()))))
        for role, (key, value) in given.items()
        if value is not None
    }


def _read_rows(
    file: Path, key: str, text_column: str, label_column: str, delimiter: str | None
) -> tuple[list[str], list[str]]:
    """Texts and labels of one file, without rows whose text is empty or whose label is missing."""
    columns = read_columns(file, key, [text_column, label_column], ["data.text_column", "data.label_column"], delimiter)
    texts = ["" if v is None else str(v).strip() for v in columns[text_column]]
    labels = [label_str(v) for v in columns[label_column]]
    if not texts:
        raise DataError(f"{key}: no data rows in {file}")
    empty = [i for i, text in enumerate(texts) if not text]
    if len(empty) == len(texts):
        raise DataError(f"{key}: column {text_column!r} is empty or whitespace-only in all {len(texts)} rows")
    if empty:
        log.warning(
            "%s: dropped %d of %d rows with an empty or whitespace-only %r (%s)",
            key,
            len(empty),
            len(texts),
            text_column,
            _rows(empty),
        )
    missing = [i for i, label in enumerate(labels) if label is None and texts[i]]
    if missing:
        log.warning(
            "%s: dropped %d of %d rows with a missing %r (%s)",
            key,
            len(missing),
            len(texts),
            label_column,
            _rows(missing),
        )
    keep = [i for i in range(len(texts)) if texts[i] and labels[i] is not None]
    if not keep:
        raise DataError(f"{key}: no usable rows: every row with a text lacks a {label_column!r}")
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _rows(indices: Sequence[int], shown: int = 5) -> str:
    """Row numbers for a message, e.g. "data rows 3, 9, 12 and 40 more" (1-based, header not counted)."""
    head = ", ".join(str(i + 1) for i in indices[:shown])
    more = f" and {len(indices) - shown} more" if len(indices) > shown else ""
    return f"data row{'s' if len(indices) > 1 else ''} {head}{more}"


def _check_known_labels(key: str, labels: Sequence[str], index: dict[str, int]) -> None:
    unseen = Counter(label for label in labels if label not in index)
    if unseen:
        listed = ", ".join(f"{label!r} ({n} rows)" for label, n in unseen.most_common(5))
        more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
        known = ", ".join(repr(label) for label in list(index)[:20]) + (", ..." if len(index) > 20 else "")
        raise DataError(f"{key}: labels never seen in the training data: {listed}{more}; training labels: {known}")


def _warn_overlap(dataset: TextDataset) -> None:
    # Duplicates across splits make val/test scores measure memorisation; worth a warning, not a fix.
    train = set(dataset.train.texts)
    repeated = sum(text in train for text in dataset.val.texts + dataset.test.texts)
    if repeated:
        log.warning(
            "data: %d val/test texts also occur in train (exact duplicates); scores on them measure recall",
            repeated,
        )
