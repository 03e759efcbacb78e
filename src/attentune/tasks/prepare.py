"""The data side of a run: its dataset, its tokenizer (trained on the training split, or another process's) and a
place to keep encoded splits.

``RunData`` loads afresh on every call; the tuner passes ``train()`` a memo of it instead
(``attentune.tuning.memo``) so a worker that runs trial after trial loads, trains and encodes once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from tokenizers import Tokenizer

from attentune.tasks.build import make_tokenizer
from attentune.tasks.instantiate import instantiate


@dataclass
class PreparedData:
    dataset: Any  # a TextDataset or a task's own (QADataset)
    tokenizer: Tokenizer
    encoded: dict = field(default_factory=dict)  # filled by the run's data module; a memo shares it between runs


def encoder_of(tokenizer: Tokenizer):
    return lambda texts: [e.ids for e in tokenizer.encode_batch(list(texts))]


class RunData:
    """Where a run's data comes from: ``cfg.data`` loaded, and a tokenizer trained on it."""

    def dataset(self, cfg: DictConfig) -> Any:
        """The run's dataset (its splits), the same in every process that runs this config."""
        return instantiate(cfg.data, "data")

    def prepare(self, cfg: DictConfig, dataset: Any, tokenizer_file: Path | None = None) -> PreparedData:
        """``dataset`` with the run's tokenizer: trained here, or loaded from ``tokenizer_file`` (trained by another
        process of the same run: DDP ranks other than 0 use rank 0's vocabulary, never one of their own)."""
        if tokenizer_file is not None:
            return PreparedData(dataset, Tokenizer.from_file(str(tokenizer_file)))
        return PreparedData(dataset, make_tokenizer(cfg, dataset))
