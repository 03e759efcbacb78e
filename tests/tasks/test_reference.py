"""The leaderboard's reference: TF-IDF + linear SVM, C chosen on validation."""

from __future__ import annotations

from attentune.data.builtin import load_sms_spam
from attentune.tasks.classification import reference
from attentune.tasks.classification.reference import tfidf_reference


def test_reference_is_strong_on_real_data_and_reports_the_trials_columns():
    metrics = tfidf_reference(load_sms_spam())
    assert metrics["test/acc"] > 0.95 and metrics["val/acc"] > 0.95
    assert metrics["C"] in reference.C_GRID
    assert {"test/f1_macro", "num_params", "latency_ms/b1", "latency_ms/b64", "train_seconds"} <= set(metrics)
