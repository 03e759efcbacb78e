"""LightningModule for extractive QA: span loss per window, EM/F1 per example after each validation and test.

Validation and test collect every window's start/end logits, decode each example's answer over its windows and
score it the official way (``metrics.squad_scores``). Under DDP each rank validates a shard of the windows; the
ranks exchange their logits (``all_gather_object``) and every rank decodes and scores the whole split alike.
With unanswerable questions (SQuAD v2.0) each validation also picks the no-answer threshold that maximises
validation F1 (``best_threshold``) and keeps it in a buffer: a checkpoint carries the threshold chosen at its
epoch, and testing it uses that threshold, never one tuned on the test split.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric

from attentune.lit.base import OptimizerFactory, TrainingModule
from attentune.tasks.qa.data import QAExample
from attentune.tasks.qa.decode import answers, decode
from attentune.tasks.qa.metrics import best_threshold, squad_scores
from attentune.tasks.qa.windows import Window


class QAModule(TrainingModule):
    """``model(input_ids, attention_mask, token_type_ids=...) -> (B, T, 2)`` start/end logits, cross-entropy on
    the answer's first and last token (``[CLS]`` when a window does not hold it). Logs ``{val,test}/{exact,f1}``
    (and ``HasAns_``/``NoAns_`` with unanswerable questions), ``{train,val}/loss`` and ``val/f1_best``."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        lr_schedule: str = "linear",
        warmup_ratio: float = 0.1,
        run_info: dict[str, Any] | None = None,
        max_answer_tokens: int = 30,
        n_best: int = 20,
        no_answer: bool = False,
    ) -> None:
        super().__init__(model, optimizer, lr_schedule, warmup_ratio, run_info)
        self.max_answer_tokens, self.n_best, self.no_answer = max_answer_tokens, n_best, no_answer
        self.register_buffer("threshold", torch.zeros(()))  # v2.0's no-answer threshold, chosen on validation
        self.val_f1_best = MaxMetric()
        self._logits: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # window index -> its start/end logits

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(batch["input_ids"], batch["attention_mask"], token_type_ids=batch["token_type_ids"])
        start, end = logits.float().unbind(-1)  # (B, T) each
        return start, end

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        start, end = self(batch)
        loss = (F.cross_entropy(start, batch["start_positions"]) + F.cross_entropy(end, batch["end_positions"])) / 2
        if not torch.isfinite(loss):  # fail the run (and a tuning trial) instead of training on garbage
            raise FloatingPointError(f"{stage} loss is {loss.item()} at step {self.global_step}")
        size = batch["input_ids"].shape[0]
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        if stage != "train":
            lengths = batch["attention_mask"].sum(-1).tolist()
            for k, s, e, n in zip(batch["index"].tolist(), start, end, lengths, strict=True):
                # copies: a view would keep (and DDP's gather would pickle) the whole batch's logits per window
                self._logits[k] = (s[:n].detach().to("cpu", copy=True), e[:n].detach().to("cpu", copy=True))
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def on_validation_epoch_start(self) -> None:
        self._logits = {}

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        scores = self._score("val", tune_threshold=not self.trainer.sanity_checking)
        self.log_dict(scores, prog_bar=True, sync_dist=True)  # the same on every rank: a no-op mean
        if not self.trainer.sanity_checking:
            self.val_f1_best.update(scores["val/f1"])
            self.log("val/f1_best", self.val_f1_best.compute(), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log_dict(self._score("test", tune_threshold=False))

    def _score(self, split: str, tune_threshold: bool) -> dict[str, float]:
        data = self.trainer.datamodule
        logits, self._logits = self._gathered(), {}
        examples, windows = _complete(data.examples(split), data.windows(split), logits)
        starts = [logits[w.index][0] for w in windows]
        ends = [logits[w.index][1] for w in windows]
        best, null = decode(examples, windows, starts, ends, self.max_answer_tokens, self.n_best)
        if self.no_answer and tune_threshold and examples:  # (none: validation cut before one example was whole)
            self.threshold.fill_(best_threshold(best, null, examples))
        predicted = answers(best, null, float(self.threshold) if self.no_answer else None)
        return {f"{split}/{k}": v for k, v in squad_scores(predicted, examples).items()}

    def _gathered(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Every rank's window logits (DDP: each validated a shard; the sampler's padding repeats some windows)."""
        if not (self.trainer.world_size > 1 and dist.is_available() and dist.is_initialized()):
            return self._logits
        shards: list = [None] * dist.get_world_size()
        dist.all_gather_object(shards, self._logits)
        return {k: v for shard in shards for k, v in shard.items()}


def _complete(
    examples: list[QAExample], windows: list[Window], logits: dict[int, Any]
) -> tuple[list[QAExample], list[Window]]:
    """The examples whose every window was scored, with those windows (renumbered to the kept examples): all of
    them, unless validation was cut short (``limit_val_batches``)."""
    if len(logits) == len(windows):
        return examples, windows
    missing = {w.example for w in windows if w.index not in logits}
    kept = {i: j for j, i in enumerate(i for i in range(len(examples)) if i not in missing)}
    return [examples[i] for i in kept], [replace(w, example=kept[w.example]) for w in windows if w.example in kept]
