"""ERASER faithfulness: ranking, perturbation, AOPC on a model whose evidence is known, intervals, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attentune.interpret.explain import verdicts
from attentune.interpret.faithfulness import FRACTIONS, aopc, bootstrap, kendall_with, perturb, top_positions
from attentune.interpret.target import ClassTarget, Example
from attentune.models.baselines import BowClassifier

EVIDENCE = 7  # the one token the planted model reads


def _example(ids: list[int]) -> Example:
    return Example("", ids, [str(t) for t in ids], [i == 0 for i in range(len(ids))])


def test_top_positions_rank_non_special_tokens_and_round_up() -> None:
    e = _example([2, 10, 11, 12, 13])
    scores = [9.0, 0.1, 0.5, 0.5, 0.2]  # [CLS] scores highest but is special
    assert top_positions(e, scores, 0.1) == [2]  # ceil(0.1 x 4) = 1; the tie goes to the earlier position
    assert top_positions(e, scores, 0.5) == [2, 3]
    assert sorted(top_positions(e, scores, 1.0)) == [1, 2, 3, 4]


def test_perturb_deletes_or_replaces_with_unk() -> None:
    e = _example([2, 10, 11, 12])
    assert perturb(e, {1, 3}, "deletion", unk=1) == [2, 11]
    assert perturb(e, {1, 3}, "unk", unk=1) == [2, 1, 11, 1]


def _planted() -> BowClassifier:
    """Class 1 when the evidence token is present, class 0 otherwise, whatever the other tokens."""
    model = BowClassifier(20, 2, embed_dim=2, hidden_dim=0, dropout=0.0).eval()
    with torch.no_grad():
        model.embedding.weight.zero_()
        model.embedding.weight[EVIDENCE] = torch.tensor([1.0, 0.0])
        model.classifier[-1].weight.copy_(torch.tensor([[-30.0, 0.0], [30.0, 0.0]]))
        model.classifier[-1].bias.copy_(torch.tensor([3.0, -3.0]))  # p(1) = 0.0025 without it
    return model


def test_aopc_rewards_the_ranking_that_finds_the_evidence() -> None:
    examples = [_example([2, 10, EVIDENCE, 11, 12, 13]), _example([2, EVIDENCE, 14, 15])]
    target = ClassTarget(_planted())
    assert target.probabilities([e.ids for e in examples]).argmax(-1).tolist() == [1, 1]
    right = [[0, 0, 1, 0, 0, 0], [0, 1, 0, 0]]
    wrong = [[0, 1, 0, 1, 1, 1], [0, 0, 1, 1]]  # the evidence ranked last
    per = aopc(target, examples, [1, 1], {"right": right, "wrong": wrong}, unk=1)
    for mode in ("deletion", "unk"):
        # removing the evidence first flips the prediction at every fraction: comprehensiveness ~ p(x) ~ 0.98
        assert per["right"][f"comprehensiveness/{mode}"] == pytest.approx([0.98] * 2, abs=0.02)
        # keeping it first keeps the prediction at every fraction: sufficiency ~ 0
        assert per["right"][f"sufficiency/{mode}"] == pytest.approx([0.0, 0.0], abs=0.02)
        # ranked last, it is removed only in the fractions whose ceil(k x n) reaches every token (and kept only there)
        reach = [sum(math.ceil(k * n) == n for k in FRACTIONS) / len(FRACTIONS) for n in (5, 3)]  # 2/10, 4/10
        assert per["wrong"][f"comprehensiveness/{mode}"] == pytest.approx([0.98 * r for r in reach], abs=0.03)
        assert per["wrong"][f"sufficiency/{mode}"] == pytest.approx([0.98 * (1 - r) for r in reach], abs=0.03)


def test_kendall_and_bootstrap() -> None:
    examples = [_example([2, 3, 4, 5]), _example([2, 3])]
    tau = kendall_with(examples, [[0, 1, 2, 3], [0, 1]], [[0, 1, 2, 3], [0, 5]])
    assert tau[0] == pytest.approx(1.0) and np.isnan(tau[1])  # one ranked token: no tau
    mean, lo, hi = bootstrap(np.array([1.0, 2.0, 3.0, np.nan]))
    assert mean == 2.0 and lo <= mean <= hi and lo >= 1.0 and hi <= 3.0


def test_verdicts_say_which_method_beats_random() -> None:
    rows = [
        {"method": "good", "vs_random/comprehensiveness/deletion": (0.3, 0.2, 0.4),
         "vs_random/sufficiency/deletion": (-0.1, -0.2, -0.05)},
        {"method": "noise", "vs_random/comprehensiveness/deletion": (0.01, -0.02, 0.04)},
        {"method": "bad", "vs_random/comprehensiveness/deletion": (-0.2, -0.3, -0.1)},
        {"method": "random"},
    ]  # fmt: skip
    good, noise, bad = verdicts(rows)
    assert good.startswith("good beats random on every measured metric") and "+0.300" in good
    assert noise == "noise does not beat random: every interval includes 0"
    assert bad.startswith("bad does worse than random")
