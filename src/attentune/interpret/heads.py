"""Head importance by masking (Michel et al. 2019): each head's share of a model's accuracy and loss.

A head is masked by zeroing its columns of the input of the module the model names for its layer
(``attention_heads()``: the output projection, which takes the heads' contexts side by side) with a forward
pre-hook; nothing in the model changes. Importance = loss with the head masked - loss without, on a validation
subset. The pruning curve masks the least important heads first and reports accuracy at each fraction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attentune.interpret.target import Example, batch


@contextlib.contextmanager
def masked_heads(model: nn.Module, heads: Sequence[tuple[int, int]]) -> Iterator[None]:
    """Within the block, ``(layer, head)`` pairs contribute nothing."""
    slots = model.attention_heads()
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    handles = []
    for layer, hs in by_layer.items():
        module, n = slots[layer]
        width = module.in_features // n

        def hook(mod, args, hs=hs, width=width):
            ctx = args[0].clone()
            for h in hs:
                ctx[..., h * width : (h + 1) * width] = 0
            return (ctx, *args[1:])

        handles.append(module.register_forward_pre_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def evaluate(model: nn.Module, examples: Sequence[Example], batch_size: int = 128) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on labelled examples (batched by length: little padding)."""
    examples = sorted(examples, key=lambda e: len(e.ids))
    loss, correct = 0.0, 0
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        ids, mask = batch([e.ids for e in chunk])
        labels = torch.tensor([e.label for e in chunk])
        logits = model(input_ids=ids, attention_mask=mask).float()
        loss += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(-1) == labels).sum())
    return loss / len(examples), correct / len(examples)


@dataclass
class HeadImportance:
    importance: list[list[float]]  # [layer][head]: loss increase when that head alone is masked
    accuracy_drop: list[list[float]]  # [layer][head]
    base_loss: float
    base_accuracy: float
    pruning: list[tuple[float, float]]  # (fraction of heads masked, accuracy), least important first


def head_importance(model: nn.Module, examples: Sequence[Example], steps: int = 10) -> HeadImportance | None:
    """Per-head importance and the pruning curve on labelled ``examples``; None for models without attention."""
    slots = model.attention_heads()
    if not slots:
        return None
    base_loss, base_acc = evaluate(model, examples)
    importance, drop = [], []
    for layer, (_, n) in enumerate(slots):
        row_i, row_d = [], []
        for head in range(n):
            with masked_heads(model, [(layer, head)]):
                loss, acc = evaluate(model, examples)
            row_i.append(loss - base_loss)
            row_d.append(base_acc - acc)
        importance.append(row_i)
        drop.append(row_d)
    order = sorted(
        ((i, h) for i, row in enumerate(importance) for h in range(len(row))), key=lambda p: importance[p[0]][p[1]]
    )
    curve = []
    for count in sorted({round(k / steps * len(order)) for k in range(steps + 1)}):  # 8 heads: 9 points, not 11
        with masked_heads(model, order[:count]):
            curve.append((count / len(order), evaluate(model, examples)[1]))
    return HeadImportance(importance, drop, base_loss, base_acc, curve)
