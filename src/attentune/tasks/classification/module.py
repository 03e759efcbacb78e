"""LightningModule for sequence classification with any model that follows the model contract."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from attentune.lit.base import OptimizerFactory, TrainingModule


def _metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        }
    )


class ClassificationModule(TrainingModule):
    """Cross-entropy training of ``model(input_ids, attention_mask) -> logits (B, C)``.

    Logs ``{train,val,test}/{loss,acc,f1_macro}`` per epoch and ``val/acc_best``. ``run_info`` (plain
    data: the composed config, the tokenizer JSON, label names) is stored in every checkpoint so a
    checkpoint alone is enough to evaluate or predict, loaded with ``torch.load(weights_only=True)``.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        lr_schedule: str = "cosine",
        warmup_ratio: float = 0.1,
        label_smoothing: float = 0.0,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, optimizer, lr_schedule, warmup_ratio, run_info)
        self.label_smoothing = label_smoothing
        base = _metrics(num_classes)
        self.train_metrics = base.clone(prefix="train/")
        self.val_metrics = base.clone(prefix="val/")
        self.test_metrics = base.clone(prefix="test/")
        self.val_acc_best = MaxMetric()
        self.keep_probs = False  # KeepPredictions: keep each validation's and test's probabilities
        self.probs: dict[str, list[torch.Tensor]] = {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask)

    def _step(self, batch: dict[str, torch.Tensor], stage: str, metrics: MetricCollection) -> torch.Tensor:
        logits = self(batch["input_ids"], batch["attention_mask"]).float()
        smoothing = self.label_smoothing if stage == "train" else 0.0
        loss = F.cross_entropy(logits, batch["labels"], label_smoothing=smoothing)
        if not torch.isfinite(loss):  # fail the run (and a tuning trial) instead of training on garbage
            raise FloatingPointError(f"{stage} loss is {loss.item()} at step {self.global_step}")
        metrics.update(logits, batch["labels"])
        if self.keep_probs and stage != "train":
            self.probs[stage].append(logits.detach().softmax(-1).cpu())
        batch_size = batch["labels"].shape[0]
        self.log(
            f"{stage}/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=stage != "train",
            batch_size=batch_size,
            sync_dist=True,  # DDP: the mean over every rank's batches (torchmetrics syncs the metrics itself)
        )
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def on_validation_epoch_start(self) -> None:
        self.probs["val"] = []

    def on_test_epoch_start(self) -> None:
        self.probs["test"] = []

    def on_train_epoch_end(self) -> None:
        self.log_dict(self.train_metrics.compute())
        self.train_metrics.reset()

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        self.log_dict(values, prog_bar=True)
        if not self.trainer.sanity_checking:
            self.val_acc_best.update(values["val/acc"])
            self.log("val/acc_best", self.val_acc_best.compute())

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.test_metrics.compute())
        self.test_metrics.reset()
