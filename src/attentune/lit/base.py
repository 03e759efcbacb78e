"""What every task's LightningModule shares: optimiser and schedule, configured settings over restored, run info."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import torch
from torch import nn

from attentune.lit.schedules import warmup_decay

OptimizerFactory = Callable[[Iterable], torch.optim.Optimizer]


class TrainingModule(L.LightningModule):
    """``model`` trained with ``optimizer`` under a warm-up + decay schedule; ``run_info`` (plain data: the composed
    config, the tokenizer JSON, what the task needs to rebuild the model) is stored in every checkpoint so that a
    checkpoint alone is enough to evaluate or predict, loaded with ``torch.load(weights_only=True)``."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        lr_schedule: str = "cosine",
        warmup_ratio: float = 0.1,
        run_info: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.lr_schedule, self.warmup_ratio = lr_schedule, warmup_ratio
        self.run_info = run_info or {}

    def configure_optimizers(self) -> dict[str, Any]:
        # No weight decay on biases, norms and embeddings' 1-D params (standard for transformers).
        decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim >= 2]
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.ndim < 2]
        optimizer = self.optimizer_factory([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = warmup_decay(optimizer, self.lr_schedule, self.warmup_ratio, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["attentune"] = self.run_info
