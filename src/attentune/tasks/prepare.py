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
from dataclasses import dataclass, field

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


_cache: OrderedDict[str, PreparedData] = OrderedDict()


def _file_stamps(data: dict) -> dict[str, list[float]]:
    stamps = {}
    for key in ("path", "train_path", "val_path", "test_path"):
        if data.get(key) and os.path.exists(data[key]):
            stat = os.stat(data[key])
            stamps[key] = [stat.st_size, stat.st_mtime_ns]
    return stamps


def prepare_data(cfg: DictConfig) -> PreparedData:
    settings = [OmegaConf.to_container(cfg[k], resolve=True) for k in ("data", "tokenizer")]
    key = json.dumps([*settings, cfg.max_length, _file_stamps(settings[0])], sort_keys=True)
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    dataset = instantiate(cfg.data, "data")
    prepared = PreparedData(dataset, make_tokenizer(cfg, dataset))
    _cache[key] = prepared
    while len(_cache) > MAX_ENTRIES:
        _cache.popitem(last=False)
    return prepared
