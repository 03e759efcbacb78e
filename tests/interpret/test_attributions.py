"""Attributions: completeness of integrated gradients, its exactness on a linear model, leave-one-out by hand."""

from __future__ import annotations

import pytest
import torch

from attentune.interpret import attributions as attr
from attentune.interpret.target import ClassTarget, Example, Vocabulary, batch
from attentune.models.baselines import BowClassifier
from attentune.models.encoder import AttentionClassifier

VOCAB = Vocabulary(pad=0, unk=1, special={0, 1, 2})


def _examples() -> list[Example]:
    rows = [[2, 5, 6, 7, 8], [2, 9, 10], [2, 11, 5, 12, 13, 14, 6]]
    return [Example("", r, [str(t) for t in r], [i == 0 for i in range(len(r))]) for r in rows]


def _mha() -> AttentionClassifier:
    torch.manual_seed(0)
    return AttentionClassifier(20, 3, d_model=16, num_heads=2, num_layers=2, max_length=16).eval()


def test_integrated_gradients_is_complete_and_keeps_special_tokens_at_zero() -> None:
    model, examples = _mha(), _examples()
    target, classes = ClassTarget(model), [0, 1, 2]
    result = attr.integrated_gradients(target, examples, classes, VOCAB, n_steps=8)
    ids, mask = batch([e.ids for e in examples])
    base = ids.clone()
    base[:, 1:][mask[:, 1:]] = 0  # every real, non-special token -> padding's id
    with torch.no_grad():
        types, cls = torch.zeros_like(ids), torch.tensor(classes)
        gap = target(ids, mask, types, cls) - target(base, mask, types, cls)
    for i, e in enumerate(examples):
        assert len(result.scores[i]) == len(e.ids)
        assert result.scores[i][0] == 0.0  # [CLS] is the same in input and baseline
        # completeness: the scores add up to F(x) - F(baseline), within the tolerance the steps were chosen for
        assert abs(sum(result.scores[i]) - float(gap[i])) <= attr.IG_TOLERANCE * abs(float(gap[i])) + 1e-6
        assert result.relative_delta[i] < attr.IG_TOLERANCE
        assert result.steps[i] in (8, 16, 32, 64, 128, 256, 512)


def test_integrated_gradients_doubles_the_steps_until_converged() -> None:
    model, examples = _mha(), _examples()
    coarse = attr.integrated_gradients(ClassTarget(model), examples, [0, 1, 2], VOCAB, n_steps=1, max_steps=1)
    fine = attr.integrated_gradients(ClassTarget(model), examples, [0, 1, 2], VOCAB, n_steps=1)
    assert coarse.steps == [1, 1, 1]
    assert max(fine.relative_delta) < attr.IG_TOLERANCE <= max(coarse.relative_delta)
    assert max(fine.steps) > 1


def test_on_a_model_linear_in_its_embeddings_ig_equals_gradient_times_input() -> None:
    torch.manual_seed(0)
    model = BowClassifier(20, 3, embed_dim=6, hidden_dim=0, dropout=0.0).eval()  # logits = W mean(embeddings)
    examples, classes = _examples(), [2, 0, 1]
    target = ClassTarget(model)
    ig = attr.integrated_gradients(target, examples, classes, VOCAB, n_steps=4)
    gxi = attr.gradient_x_input(target, examples, classes)
    for a, b in zip(ig.scores, gxi, strict=True):
        assert a[1:] == pytest.approx(b[1:], abs=1e-5)  # padding's embedding row is zero: the baseline is 0


def test_attributions_run_inside_inference_mode_and_autocast() -> None:
    model, examples = _mha(), _examples()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = attr.gradient_x_input(ClassTarget(model), examples, [0, 0, 0])
    assert all(any(v != 0 for v in row[1:]) for row in out)


def test_leave_one_out_is_the_probability_drop_of_deleting_each_token() -> None:
    model, examples = _mha(), _examples()
    target = ClassTarget(model)
    loo = attr.leave_one_out(target, examples, [1, 1, 1])
    e = examples[2]
    full = target.probabilities([e.ids])[0, 1]
    for pos in range(1, len(e.ids)):
        without = target.probabilities([e.ids[:pos] + e.ids[pos + 1 :]])[0, 1]
        assert loo[2][pos] == pytest.approx(float(full - without), abs=1e-5)
    assert loo[2][0] == 0.0  # special tokens are never deleted


def test_random_scores_are_seeded() -> None:
    examples = _examples()
    assert attr.random_scores(examples, 1) == attr.random_scores(examples, 1) != attr.random_scores(examples, 2)
