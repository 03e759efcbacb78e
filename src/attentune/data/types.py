"""The in-memory form of a text-classification dataset: three splits of (text, label index)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Split:
    """One split: parallel lists of texts and label indices (into ``TextDataset.label_names``)."""

    # repr=False: a dataset's repr must not dump 10k texts into a log line or a traceback.
    texts: list[str] = field(repr=False)
    labels: list[int] = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"Split has {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def __repr__(self) -> str:
        return f"Split(n={len(self)})"


@dataclass(frozen=True)
class TextDataset:
    """A named dataset with train/val/test splits and the original label of each class index."""

    name: str
    train: Split
    val: Split
    test: Split
    label_names: list[str]  # index -> original label as a string

    def __post_init__(self) -> None:
        for split_name, split in self.splits().items():
            bad = [y for y in split.labels if not 0 <= y < self.num_classes]
            if bad:
                raise ValueError(f"{self.name}: {split_name} has label index {bad[0]} outside [0, {self.num_classes})")

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def splits(self) -> dict[str, Split]:
        """The three splits by name, in the order train, val, test."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def tokenizer_texts(self) -> list[str]:
        """What a tokenizer trained for this data learns from: the training texts."""
        return self.train.texts

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for s in self.splits().values())
        return f"TextDataset({self.name!r}, train/val/test={sizes}, num_classes={self.num_classes})"
