"""Length-bucketed training batches: every example once per epoch, little padding, random and seeded."""

from __future__ import annotations

import random

import torch

from attentune.data.bucketing import BucketBatchSampler


def test_each_epoch_visits_every_example_once_in_batches_of_similar_length():
    rng = random.Random(0)
    lengths = [rng.randint(1, 120) for _ in range(5000)]
    sampler = BucketBatchSampler(lengths, batch_size=32, chunk_batches=10)
    torch.manual_seed(0)
    batches = list(sampler)
    assert len(batches) == len(sampler) and sorted(i for b in batches for i in b) == list(range(5000))
    assert all(len(b) <= 32 for b in batches) and sum(len(b) < 32 for b in batches) <= len(range(0, 5000, 320))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    shuffled = list(range(5000))
    rng.shuffle(shuffled)
    padded_random = sum(
        max(lengths[i] for i in shuffled[k : k + 32]) * len(shuffled[k : k + 32]) for k in range(0, 5000, 32)
    )
    assert padded < 0.7 * padded_random  # uniform lengths 1..120: about 0.55 of random batching's padded tokens
    # batches come in random order (not shortest first), and a seed repeats an epoch, another seed does not
    firsts = [max(lengths[i] for i in b) for b in batches[:20]]
    assert firsts != sorted(firsts)
    torch.manual_seed(0)
    assert list(sampler) == batches
    torch.manual_seed(1)
    assert list(sampler) != batches
