"""Token attributions for the explained number (`target.ClassTarget` or `SpanTarget`, each example's class or
span in ``targets``): integrated gradients, gradient x input, leave-one-out (classes), and a random ranking.

Gradient methods use captum on the model's ``get_input_embeddings()`` (every family has one), in fp32 with
gradients on, whatever the caller's autocast or inference mode. A token's score is its embedding attribution
summed over the embedding dimension.

Integrated gradients' baseline keeps the special tokens and the real attention mask and puts padding's id at
every other position (an all-padding input would have no real token: NaN). ``n_steps`` adapts per example: an
example whose convergence delta is 5% or more of F(x) - F(baseline) is redone with twice the steps, up to
``max_steps``; the steps each example took and its relative delta are returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from captum.attr import LayerGradientXActivation, LayerIntegratedGradients
from torch import Tensor, nn

from attentune.interpret.target import ClassTarget, Example, Vocabulary, model_inputs

IG_TOLERANCE = 0.05  # |delta| / |F(x) - F(baseline)| below this counts as converged


@contextlib.contextmanager
def gradients_on() -> Iterator[None]:
    """fp32 with autograd, even inside a caller's ``inference_mode`` or autocast."""
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast("cpu", enabled=False):
        yield


@dataclass
class IGResult:
    scores: list[list[float]]  # per example, per token
    steps: list[int]  # the n_steps each example converged with (or max_steps)
    relative_delta: list[float]  # |delta| / |F(x) - F(baseline)| at those steps


def _baseline(ids: Tensor, mask: Tensor, examples: Sequence[Example], pad: int) -> Tensor:
    """Padding's id at every real, non-special position. Shapes: (B, T), (B, T) -> (B, T)."""
    special = torch.zeros_like(mask)
    for i, e in enumerate(examples):
        special[i, : len(e.special)] = torch.tensor(e.special)
    return torch.where(special | ~mask, ids, torch.full_like(ids, pad))


def integrated_gradients(
    target: nn.Module,
    examples: Sequence[Example],
    targets: Sequence[int] | Sequence[tuple[int, int]],
    vocab: Vocabulary,
    *,
    n_steps: int = 32,
    max_steps: int = 512,
    internal_batch_size: int = 256,
) -> IGResult:
    """IG of each example's explained number (its class's logit, its span's score) w.r.t. its token embeddings,
    per token. Memory stays bounded by ``internal_batch_size`` (inputs x steps evaluated at a time)."""
    ig = LayerIntegratedGradients(target, target.model.get_input_embeddings())
    scores: list[list[float] | None] = [None] * len(examples)
    steps, rel = [n_steps] * len(examples), [float("inf")] * len(examples)
    todo, n = list(range(len(examples))), n_steps
    with gradients_on():
        while todo:
            ids, mask, types = model_inputs([examples[i] for i in todo])
            what = torch.tensor([targets[i] for i in todo])
            base = _baseline(ids, mask, [examples[i] for i in todo], vocab.pad)
            attr, delta = ig.attribute(
                ids, base, additional_forward_args=(mask, types, what), n_steps=n,
                internal_batch_size=internal_batch_size, return_convergence_delta=True,
            )  # fmt: skip
            with torch.no_grad():
                gap = (target(ids, mask, types, what) - target(base, mask, types, what)).abs()  # (B,)
            ratio = (delta.abs() / gap.clamp(min=1e-9)).tolist()
            token = attr.sum(-1).detach()  # (B, T)
            left = []
            for j, i in enumerate(todo):
                scores[i] = token[j, : len(examples[i].ids)].tolist()
                steps[i], rel[i] = n, ratio[j]
                if ratio[j] >= IG_TOLERANCE and n * 2 <= max_steps:
                    left.append(i)
            todo, n = left, n * 2
    return IGResult([s or [] for s in scores], steps, rel)


def gradient_x_input(
    target: nn.Module, examples: Sequence[Example], targets: Sequence[int] | Sequence[tuple[int, int]]
) -> list[list[float]]:
    """Gradient of the explained number times the token embedding, summed over the embedding dimension."""
    method = LayerGradientXActivation(target, target.model.get_input_embeddings())
    with gradients_on():
        ids, mask, types = model_inputs(examples)
        attr = method.attribute(ids, additional_forward_args=(mask, types, torch.tensor(list(targets))))
        token = attr.sum(-1).detach()
    return [token[i, : len(e.ids)].tolist() for i, e in enumerate(examples)]


def leave_one_out(
    target: ClassTarget, examples: Sequence[Example], classes: Sequence[int], batch_size: int = 128
) -> list[list[float]]:
    """How much the class probability falls when one token is deleted (special tokens score 0)."""
    rows, owners = [], []
    for i, e in enumerate(examples):
        rows.append(e.ids)
        owners.append((i, None))
        for pos in e.words:
            rows.append(e.ids[:pos] + e.ids[pos + 1 :])
            owners.append((i, pos))
    probs = target.probabilities(rows, batch_size)
    full = {i: float(probs[k, classes[i]]) for k, (i, pos) in enumerate(owners) if pos is None}
    scores = [[0.0] * len(e.ids) for e in examples]
    for k, (i, pos) in enumerate(owners):
        if pos is not None:
            scores[i][pos] = full[i] - float(probs[k, classes[i]])
    return scores


def random_scores(examples: Sequence[Example], seed: int = 0) -> list[list[float]]:
    """A random ranking: the floor any method must beat."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(len(e.ids), generator=g).tolist() for e in examples]
