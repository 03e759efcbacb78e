"""The reference every leaderboard is measured against: TF-IDF (word and character n-grams) + a linear SVM.

A strong, cheap, well-known baseline for short-text classification, trained on exactly the run's train
split, with C chosen on its validation split. A searched attention model that does not beat it is worth
knowing about (``attentune.tuning.selection`` says so in the report).
"""

from __future__ import annotations

import logging
import statistics
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import LinearSVC

from attentune.data.types import TextDataset

log = logging.getLogger(__name__)

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
NAME = "reference: TF-IDF word 1-2 + char 2-5 grams, linear SVM"


def _features() -> FeatureUnion:
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )


def tfidf_reference(dataset: TextDataset, latency_batch_sizes: tuple[int, ...] = (1, 64)) -> dict:
    """Fit on ``dataset.train``, pick C by validation accuracy, return val/test metrics, C and latency.

    The keys follow the trials' (``val/acc``, ``test/acc``, ``test/f1_macro``, ``latency_ms/b<N>``) so the
    reference is one more row of the same table.
    """
    start = time.perf_counter()
    features = _features()
    x_train = features.fit_transform(dataset.train.texts)
    x_val = features.transform(dataset.val.texts)
    scores = {}
    for c in C_GRID:
        clf = LinearSVC(C=c).fit(x_train, dataset.train.labels)
        scores[c] = accuracy_score(dataset.val.labels, clf.predict(x_val))
    best_c = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regularisation
    model = make_pipeline(features, LinearSVC(C=best_c).fit(x_train, dataset.train.labels))
    train_seconds = time.perf_counter() - start
    predicted = model.predict(dataset.test.texts)
    metrics = {
        "model": NAME,
        "C": best_c,
        "val/acc": float(scores[best_c]),
        "test/acc": float(accuracy_score(dataset.test.labels, predicted)),
        "test/f1_macro": float(f1_score(dataset.test.labels, predicted, average="macro")),
        "num_params": int(np.prod(model[-1].coef_.shape) + model[-1].intercept_.size),
        "train_seconds": round(train_seconds, 3),
    }
    for bs in latency_batch_sizes:  # the same protocol as the neural models: first `bs` test texts, median of 5
        texts = dataset.test.texts[:bs]
        model.predict(texts)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            model.predict(texts)
            times.append(time.perf_counter() - t0)
        metrics[f"latency_ms/b{bs}"] = 1000.0 * statistics.median(times) / len(texts)
    log.info(
        "reference on %s: C=%g val/acc %.4f test/acc %.4f",
        dataset.name,
        best_c,
        metrics["val/acc"],
        metrics["test/acc"],
    )
    return metrics
