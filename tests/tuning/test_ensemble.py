"""Ensemble selection over kept predictions (no training: probabilities made up to have known properties)."""

from __future__ import annotations

import numpy as np
import pytest

from attentune.tuning.ensemble import Candidate, accuracy, blend, select_ensemble, sweep_ensemble


def candidate(name: str, right: np.ndarray, labels: np.ndarray, confidence: float = 0.8) -> Candidate:
    """Probabilities that put ``confidence`` on the true label where ``right``, on the other label elsewhere."""
    n = len(labels)
    probs = np.full((n, 2), 1 - confidence)
    chosen = np.where(right, labels, 1 - labels)
    probs[np.arange(n), chosen] = confidence
    arrays = {"val_labels": labels, "test_labels": labels}
    return Candidate(name, "checkpoint", f"{name}.ckpt", probs, probs.copy(), arrays)


def test_complementary_members_beat_each_of_them_and_weights_come_from_validation_only():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 600)
    a_right = np.ones(600, dtype=bool)
    a_right[:200] = False  # a is wrong on the first third, b on the second, c on the last: any two out-vote one
    b_right = np.ones(600, dtype=bool)
    b_right[200:400] = False
    c_right = np.ones(600, dtype=bool)
    c_right[400:] = False
    members = [candidate(n, r, labels) for n, r in (("a", a_right), ("b", b_right), ("c", c_right))]
    weights = select_ensemble(members, labels)
    assert set(weights) == {"a", "b", "c"} and sum(weights.values()) == pytest.approx(1.0)
    assert accuracy(blend(members, weights, "val"), labels) == 1.0 > max(accuracy(m.val, labels) for m in members)
    # the test split never enters the choice: scrambling it changes nothing
    for m in members:
        m.test = rng.random(m.test.shape)
    assert select_ensemble(members, labels) == weights


def test_a_dominant_candidate_stands_alone_and_no_ensemble_is_proposed():
    labels = np.random.default_rng(1).integers(0, 2, 300)
    strong = candidate("reference", np.ones(300, dtype=bool), labels, 0.9)
    weak = candidate("weak", np.arange(300) % 2 == 0, labels, 0.6)
    assert select_ensemble([weak, strong], labels) == {"reference": 1.0}
    assert sweep_ensemble([weak, strong]) is None
