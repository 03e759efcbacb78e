"""LightningDataModule over a :class:`TextDataset` with any tokenizer (passed in as an ``encode`` function)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
from torch.utils.data import DataLoader

from attentune.data.bucketing import BucketBatchSampler
from attentune.data.types import Split, TextDataset

Encode = Callable[[Sequence[str]], list[list[int]]]


class TextDataModule(L.LightningDataModule):
    """Tokenizes each split once, then serves dynamically padded batches.

    ``collate_fn`` turns a list of ``(token_ids, label)`` pairs into a batch dict. Little compute is spent on
    padding: training batches hold texts of similar lengths (``BucketBatchSampler``), evaluation loaders visit
    examples sorted by length.
    """

    def __init__(
        self,
        dataset: TextDataset,
        encode: Encode,
        collate_fn: Callable,
        batch_size: int = 32,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        encoded: dict | None = None,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.encode = encode
        self.collate_fn = collate_fn
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        # ``encoded``: a dict to fill (or already filled) by split name, shared with other runs on this data.
        self._encoded: dict[str, list[tuple[list[int], int]]] = {} if encoded is None else encoded

    def setup(self, stage: str | None = None) -> None:
        for name in ("train", "val", "test"):
            if name not in self._encoded:
                split: Split = getattr(self.dataset, name)
                self._encoded[name] = list(zip(self.encode(split.texts), split.labels, strict=True))

    def encoded(self, name: str) -> list[tuple[list[int], int]]:
        """``(token_ids, label)`` pairs of split ``name``, in dataset order."""
        self.setup()
        return self._encoded[name]

    def num_tokens(self, name: str = "train") -> int:
        return sum(len(ids) for ids, _ in self.encoded(name))

    def _loader(self, name: str, train: bool) -> DataLoader:
        examples = self.encoded(name)
        workers = {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}
        if train and self.bucketed():
            sampler = BucketBatchSampler([len(ids) for ids, _ in examples], self.batch_size)
            return DataLoader(examples, batch_sampler=sampler, collate_fn=self.collate_fn, **workers)
        if not train:
            examples = [examples[i] for i in self.eval_order(name)]
        return DataLoader(
            examples,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            collate_fn=self.collate_fn,
            **workers,
        )

    def eval_order(self, name: str) -> list[int]:
        """The dataset indices of split ``name`` in the order evaluation visits them: by length, stably."""
        examples = self.encoded(name)
        return sorted(range(len(examples)), key=lambda i: len(examples[i][0]))

    def bucketed(self) -> bool:
        """Length-bucketed training batches, except under DDP (each rank's shard comes from Lightning's
        distributed sampler, which replaces a plain shuffle)."""
        trainer = getattr(self, "trainer", None)
        return trainer is None or trainer.world_size == 1

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def loader(self, name: str) -> DataLoader:
        """An evaluation loader over split ``name`` (``train``, ``val`` or ``test``)."""
        return self._loader(name, train=False)
