"""Training batches of similar lengths, so that little of a batch is padding (mr: 27.6 tokens per row instead of 53)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

CHUNK_BATCHES = 50  # batches per sorted chunk: wide enough to pad little, narrow enough to stay random


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffle, cut into chunks of ``CHUNK_BATCHES`` batches, sort each chunk by length, cut it into batches, and
    shuffle the batches: each epoch visits every example once, in batches of neighbouring lengths, in random order.

    Its randomness follows torch's global generator (``seed_everything``), so a seeded run repeats itself.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, chunk_batches: int = CHUNK_BATCHES) -> None:
        self.lengths, self.batch_size, self.chunk = list(lengths), batch_size, batch_size * chunk_batches

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(len(self.lengths)).tolist()
        batches = []
        for start in range(0, len(perm), self.chunk):
            chunk = sorted(perm[start : start + self.chunk], key=self.lengths.__getitem__)
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for k in torch.randperm(len(batches)).tolist():
            yield batches[k]

    def __len__(self) -> int:
        return sum(
            math.ceil(min(self.chunk, len(self.lengths) - s) / self.batch_size)
            for s in range(0, len(self.lengths), self.chunk)
        )
