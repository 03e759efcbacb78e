"""The data side of a run, memoised per process: dataset, trained tokenizer and encoded splits.

A tuning worker runs trial after trial (Ray's ``reuse_actors``); trials that share the data and tokenizer
settings then load the data, train the tokenizer and encode every split once instead of once per trial.
The key is the resolved ``data`` and ``tokenizer`` config plus ``max_length`` and the size and modification
time of every data file they name, so a change to any of them misses.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.data.types import TextDataset
from attentune.tasks.build import make_tokenizer
from attentune.tasks.instantiate import instantiate

MAX_ENTRIES = 2  # a search varies the tokenizer; keep the last few, not every one


@dataclass
class PreparedData:
    dataset: TextDataset
    tokenizer: Tokenizer
    encoded: dict = field(default_factory=dict)  # filled by TextDataModule.setup, shared by later runs


def encoder_of(tokenizer: Tokenizer):
    return lambda texts: [e.ids for e in tokenizer.encode_batch(list(texts))]


_datasets: OrderedDict[str, TextDataset] = OrderedDict()
_prepared: OrderedDict[str, PreparedData] = OrderedDict()


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


def load_dataset(cfg: DictConfig) -> TextDataset:
    """The run's dataset (its splits), the same in every process that runs this config."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    key = json.dumps([data, _file_stamps(data)], sort_keys=True)
    return _memo(_datasets, key, lambda: instantiate(cfg.data, "data"))


def prepare_data(cfg: DictConfig, tokenizer_file: Path | None = None) -> PreparedData:
    """The run's dataset and tokenizer: trained here, or loaded from ``tokenizer_file`` (trained by another
    process of the same run: DDP ranks other than 0 use rank 0's vocabulary, never one of their own)."""
    if tokenizer_file is not None:
        return PreparedData(load_dataset(cfg), Tokenizer.from_file(str(tokenizer_file)))
    settings = [OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "tokenizer")]
    key = json.dumps([*settings, cfg.max_length, _file_stamps(settings[0])], sort_keys=True)
    return _memo(_prepared, key, lambda: PreparedData(dataset := load_dataset(cfg), make_tokenizer(cfg, dataset)))
