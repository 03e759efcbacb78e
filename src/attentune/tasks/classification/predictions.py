"""Each classification run keeps its best checkpoint's validation and test probabilities (``predictions.npz``),
so that a sweep can ensemble its trials and the reference in seconds instead of retraining them."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import numpy as np
import torch

PREDICTIONS_FILE = "predictions.npz"


def save_predictions(path: Path, val: np.ndarray, test: np.ndarray, val_labels, test_labels) -> None:
    """Shapes: ``val`` (N_val, C) and ``test`` (N_test, C) probabilities, rows in the splits' dataset order."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(
        tmp,
        val=np.asarray(val, dtype=np.float32),
        test=np.asarray(test, dtype=np.float32),
        val_labels=np.asarray(val_labels, dtype=np.int64),
        test_labels=np.asarray(test_labels, dtype=np.int64),
    )
    tmp.replace(path)


def load_predictions(path: Path) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def dataset_order(probs: list[torch.Tensor], order: list[int]) -> np.ndarray | None:
    """Rows in evaluation order (``order``: the dataset index of each) put back in dataset order. None when the
    run evaluated part of the split (``limit_val_batches``): its predictions cannot stand for the split."""
    visited = torch.cat(probs).numpy()
    if len(visited) != len(order):
        return None
    out = np.empty_like(visited)
    out[order] = visited
    return out


class KeepPredictions(L.Callback):
    """Keep the validation probabilities of the round the checkpoint callback keeps as best (the first, then each
    strictly better one, as ``ModelCheckpoint`` with ``save_top_k=1`` does), and the best checkpoint's test
    probabilities; write both at the end of testing. One process only: a DDP run's ranks see shards."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.best: float | None = None
        self.val: np.ndarray | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        pl_module.keep_probs = trainer.world_size == 1

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        probs = pl_module.probs.get("val")
        ckpt = trainer.checkpoint_callback
        if trainer.sanity_checking or not probs or ckpt is None or ckpt.monitor is None:
            return
        score = trainer.callback_metrics.get(ckpt.monitor)
        if score is None or math.isnan(float(score)):
            return
        score = float(score)
        if self.best is None or (score > self.best if ckpt.mode == "max" else score < self.best):
            self.best, self.val = score, dataset_order(probs, trainer.datamodule.eval_order("val"))

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        probs = pl_module.probs.get("test")
        if self.val is None or not probs or not trainer.is_global_zero or trainer.world_size > 1:
            return
        dm = trainer.datamodule
        test = dataset_order(probs, dm.eval_order("test"))
        if test is None:
            return
        labels = {split: [y for _, y in dm.encoded(split)] for split in ("val", "test")}
        save_predictions(self.out / PREDICTIONS_FILE, self.val, test, labels["val"], labels["test"])
