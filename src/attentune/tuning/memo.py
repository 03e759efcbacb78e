"""A tuning worker's memo of the data side of its runs (``RunData``): dataset, trained tokenizer, encoded splits.

A worker runs trial after trial (Ray's ``reuse_actors``); trials that share the data, tokenizer and task settings
then load the data, train the tokenizer and encode every split once instead of once per trial. The key is the
resolved ``data``, ``tokenizer`` and ``task`` config plus ``max_length`` and the size and modification time of
every data file they name, so a change to any of them misses. A worker keeps one for its life (``WORKER``); the
sweep planner keeps one while it probes the sweep's jobs, then lets it go (the driver holds no data meanwhile).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attentune.tasks.prepare import PreparedData, RunData

MAX_ENTRIES = 2  # a search varies the tokenizer; keep the last few, not every one


def _memo(cache: OrderedDict, key: str, make: Callable[[], Any]) -> Any:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    cache[key] = value = make()
    while len(cache) > MAX_ENTRIES:
        cache.popitem(last=False)
    return value


def _file_stamps(data: dict) -> dict[str, list[float]]:
    stamps = {}
    for key in ("path", "train_path", "val_path", "test_path"):
        if data.get(key) and os.path.exists(data[key]):
            stat = os.stat(data[key])
            stamps[key] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def _settings(cfg: DictConfig, *keys: str) -> list:
    return [OmegaConf.to_container(cfg[k], resolve=True) if k in cfg else None for k in keys]


class MemoizedRunData(RunData):
    """``RunData`` kept between runs of the same data settings (the last ``MAX_ENTRIES`` of each)."""

    def __init__(self) -> None:
        self._datasets: OrderedDict[str, Any] = OrderedDict()
        self._prepared: OrderedDict[str, PreparedData] = OrderedDict()

    def dataset(self, cfg: DictConfig) -> Any:
        (data,) = _settings(cfg, "data")
        key = json.dumps([data, _file_stamps(data)], sort_keys=True)
        return _memo(self._datasets, key, lambda: super(MemoizedRunData, self).dataset(cfg))

    def prepare(self, cfg: DictConfig, dataset: Any, tokenizer_file: Path | None = None) -> PreparedData:
        if tokenizer_file is not None:  # another process's tokenizer: this run's alone
            return super().prepare(cfg, dataset, tokenizer_file)
        settings = _settings(cfg, "data", "tokenizer", "task")
        key = json.dumps([*settings, cfg.max_length, _file_stamps(settings[0])], sort_keys=True)
        return _memo(self._prepared, key, lambda: super(MemoizedRunData, self).prepare(cfg, dataset))


WORKER = MemoizedRunData()  # a tuning worker's, for every trial it runs (Ray's reuse_actors)
