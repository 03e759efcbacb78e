"""The reference every leaderboard is measured against: TF-IDF (word and character n-grams) + a linear SVM.

A strong, cheap, well-known baseline for short-text classification, trained on exactly the run's train
split, with C chosen on its validation split. A searched attention model that does not beat it is worth
knowing about (``attentune.tuning.selection`` says so in the report).
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.svm import LinearSVC

from attentune.data.types import TextDataset
from attentune.tasks.classification.predictions import PREDICTIONS_FILE, save_predictions

log = logging.getLogger(__name__)

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
MODEL_FILE = "model.joblib"
NAME = "reference: TF-IDF word 1-2 + char 2-5 grams, linear SVM"


def _features() -> FeatureUnion:
    return FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )


class ReferenceModel:
    """The fitted pipeline with a softmax temperature on its SVM scores (fitted on validation), so that its
    probabilities can be averaged with the neural models' in an ensemble."""

    def __init__(self, pipeline, label_names: list[str], temperature: float = 1.0) -> None:
        self.pipeline, self.label_names, self.temperature = pipeline, list(label_names), temperature

    def logits(self, texts: list[str]) -> np.ndarray:
        """Shapes: (N, C) decision scores (a binary SVM's one score as (0, s))."""
        scores = np.asarray(self.pipeline.decision_function(list(texts)), dtype=np.float64)
        return np.stack([np.zeros_like(scores), scores], axis=1) if scores.ndim == 1 else scores

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Shapes: (N, C) probabilities in ``label_names`` order."""
        return softmax(self.logits(texts) * self.temperature)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: list[int]) -> float:
    """The scale of ``logits`` that minimises validation log-loss (a grid: robust and a few milliseconds)."""
    y = np.asarray(labels)
    grid = np.logspace(-1, 2.5, 71)
    losses = [-np.log(softmax(logits * t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(losses))])


def tfidf_reference(
    dataset: TextDataset, latency_batch_sizes: tuple[int, ...] = (1, 64), out: Path | None = None
) -> dict:
    """Fit on ``dataset.train``, pick C by validation accuracy, return val/test metrics, C and latency.

    The keys follow the trials' (``val/acc``, ``test/acc``, ``test/f1_macro``, ``latency_ms/b<N>``) so the
    reference is one more row of the same table. ``out``: also write the fitted model (``model.joblib``, a
    :class:`ReferenceModel`) and its validation and test probabilities (``predictions.npz``, as trials do),
    so that it can be an ensemble member or the winner.
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
    if out is not None:
        reference = ReferenceModel(model, dataset.label_names)
        reference.temperature = fit_temperature(reference.logits(dataset.val.texts), dataset.val.labels)
        out.mkdir(parents=True, exist_ok=True)
        joblib.dump(reference, out / MODEL_FILE)
        save_predictions(
            out / PREDICTIONS_FILE,
            reference.predict_proba(dataset.val.texts),
            reference.predict_proba(dataset.test.texts),
            dataset.val.labels,
            dataset.test.labels,
        )
    metrics = {
        "model": NAME,
        "C": best_c,
        "val/acc": float(scores[best_c]),
        "test/acc": float(accuracy_score(dataset.test.labels, predicted)),
        "test/f1_macro": float(f1_score(dataset.test.labels, predicted, average="macro")),
        "num_params": int(np.prod(model[-1].coef_.shape) + model[-1].intercept_.size),
        "train_seconds": round(train_seconds, 3),
        "label_names": list(dataset.label_names),
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
