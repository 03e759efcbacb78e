"""LightningDataModule over a :class:`QADataset`: every split as windows, encoded once, batches padded to fit."""

from __future__ import annotations

import lightning as L
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from attentune.tasks.qa.data import QADataset, QAExample
from attentune.tasks.qa.windows import Window, collate_windows, encode_windows


class QADataModule(L.LightningDataModule):
    """Training shuffles windows; validation and test visit them in example order (decoding needs that order)."""

    def __init__(
        self,
        dataset: QADataset,
        tokenizer: Tokenizer,  # a window tokenizer (``windows.window_tokenizer``)
        batch_size: int = 32,
        eval_batch_size: int = 64,
        max_question_tokens: int = 64,
        encoded: dict | None = None,
    ) -> None:
        super().__init__()
        self.dataset, self.tokenizer = dataset, tokenizer
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.max_question_tokens = max_question_tokens
        # ``encoded``: a dict to fill (or already filled) by split name, shared with other runs of these settings
        self._windows: dict[str, list[Window]] = {} if encoded is None else encoded

    def examples(self, split: str) -> list[QAExample]:
        return self.dataset.splits()[split]

    def windows(self, split: str) -> list[Window]:
        if split not in self._windows:
            self._windows[split] = encode_windows(self.tokenizer, self.examples(split), self.max_question_tokens)
        return self._windows[split]

    encoded = windows  # what the deadline and latency code count and read, as for classification

    def num_tokens(self, split: str = "train") -> int:
        return sum(len(w.input_ids) for w in self.windows(split))

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val", "test"):
            self.windows(split)

    def _loader(self, split: str, train: bool) -> DataLoader:
        return DataLoader(
            self.windows(split),
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            collate_fn=collate_windows,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
