"""Dynamic padding: each batch is padded to its own longest sequence."""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Collator:
    """Pad ``(token_ids, label)`` pairs into a batch.

    Shapes: returns ``input_ids`` (B, T) long, ``attention_mask`` (B, T) bool (True = real token),
    ``labels`` (B,) long, with T the longest sequence in the batch.
    """

    def __init__(self, pad_id: int = 0) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[tuple[Sequence[int], int]]) -> dict[str, torch.Tensor]:
        lengths = [len(ids) for ids, _ in batch]
        input_ids = torch.full((len(batch), max(lengths)), self.pad_id, dtype=torch.long)  # (B, T)
        for row, (ids, _) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        attention_mask = torch.arange(input_ids.shape[1]) < torch.tensor(lengths)[:, None]  # (B, T)
        labels = torch.tensor([label for _, label in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
