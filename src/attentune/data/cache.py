"""On-disk cache of prepared datasets: one parquet file per (dataset, options, source files).

The file name holds a hash of the source files' path/size/mtime, the loader options and
``CACHE_VERSION``, so an edited source or a different split never hits a stale entry. Files are
written to a temporary name and renamed into place, so an interrupted run leaves no partial entry;
an unreadable entry (corrupted disk, older format) is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from attentune.data.types import Split, TextDataset

log = logging.getLogger(__name__)

# Bump when a reader, the de-duplication or the split changes what a cache entry would hold.
CACHE_VERSION = 1
_META_KEY = b"attentune"


def cache_file(cache_dir: str | os.PathLike, name: str, sources: Sequence[Path], options: Mapping[str, Any]) -> Path:
    """Where the entry for ``name`` built from ``sources`` with ``options`` lives."""
    key = {
        "version": CACHE_VERSION,
        "name": name,
        "options": dict(options),
        "sources": [_fingerprint(p) for p in sources],
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir).expanduser() / "data" / f"{name}-{digest}.parquet"


def load_or_build(
    cache_dir: str | os.PathLike | None,
    name: str,
    sources: Sequence[Path],
    options: Mapping[str, Any],
    build: Callable[[], TextDataset],
) -> TextDataset:
    """Return the cached dataset if there is a readable entry, else ``build()`` it and cache it.

    ``cache_dir=None`` disables caching. A cache directory that cannot be written only costs a warning.
    """
    if not cache_dir:
        return build()
    path = cache_file(cache_dir, name, sources, options)
    if path.exists():
        try:
            return _read(path)
        except Exception as e:  # any damage to the file (truncated, old format, bit rot) means rebuild
            log.warning("%s: cache file %s is unreadable (%s: %s); rebuilding it", name, path, type(e).__name__, e)
    dataset = build()
    try:
        _write_atomic(dataset, path)
    except OSError as e:
        log.warning("cache_dir: cannot write %s (%s); continuing without a cache", path, e)
    return dataset


def _fingerprint(path: Path) -> list:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _write_atomic(dataset: TextDataset, path: Path) -> None:
    split_col, texts, labels = [], [], []
    for split_name, split in dataset.splits().items():
        split_col += [split_name] * len(split)
        texts += split.texts
        labels += split.labels
    table = pa.table({"split": split_col, "text": pa.array(texts, pa.string()), "label": pa.array(labels, pa.int32())})
    meta = {"name": dataset.name, "label_names": dataset.label_names}
    table = table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> TextDataset:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_META_KEY])
    columns = table.to_pydict()
    rows: dict[str, tuple[list[str], list[int]]] = {"train": ([], []), "val": ([], []), "test": ([], [])}
    for split_name, text, label in zip(columns["split"], columns["text"], columns["label"], strict=True):
        rows[split_name][0].append(text)
        rows[split_name][1].append(label)
    if any(not texts for texts, _ in rows.values()):
        raise ValueError("an empty split")
    return TextDataset(
        name=meta["name"],
        train=Split(*rows["train"]),
        val=Split(*rows["val"]),
        test=Split(*rows["test"]),
        label_names=meta["label_names"],
    )
