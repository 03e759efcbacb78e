"""Inference latency measured the same way for every model: fixed examples, warm-up, wall-clock median."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn


@torch.inference_mode()
def measure_latency(
    model: nn.Module,
    examples: Sequence[Sequence[int]],
    collate: Callable[[list], dict[str, torch.Tensor]],
    batch_sizes: Sequence[int] = (1, 64),
    repeats: int = 5,
) -> dict[str, float]:
    """Milliseconds per example of ``model(input_ids, attention_mask)`` at each batch size.

    The batch is the first ``batch_size`` of ``examples`` (padded dynamically), so every model of one
    dataset sees the same texts. Reports the median of ``repeats`` timed calls after one warm-up call.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = {}
    for bs in batch_sizes:
        picked = [(list(ids), 0) for ids in examples[:bs]]
        batch = collate(picked)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        model(ids, mask)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(ids, mask)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        out[f"latency_ms/b{bs}"] = 1000.0 * statistics.median(times) / len(picked)
    model.train(was_training)
    return out
