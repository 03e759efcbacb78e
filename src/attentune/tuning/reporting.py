"""What a trial reports to Ray Tune: a checkpointed result per validated round, then its final result."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import lightning as L
import ray
from lightning.pytorch.callbacks import Checkpoint
from ray import tune

from attentune.tasks.build import finish_wandb

RESUME_FILE = "resume.ckpt"  # the full training state a paused or interrupted trial continues from


class TuneReporter(Checkpoint):
    """At the end of each training epoch that validated, report the monitored metric's best value so far to
    Ray Tune, with a checkpoint of the whole training state.

    A ``Checkpoint`` callback, so Lightning runs it after early stopping and ``ModelCheckpoint`` and the
    saved state includes their decisions for the epoch; saved at the end of the epoch (not at the end of
    validation, which is mid-epoch), a resumed run starts cleanly with the next epoch.

    Reporting the best (not the last) epoch means schedulers and the final result rank a trial by its
    best checkpoint, which is also the one it is tested with. The checkpoint lets Ray pause and resume
    the trial (HyperBand, BOHB) or continue it after the driver was killed (``resume=``).
    """

    def __init__(self, metric: str, mode: str, keep_best: bool = True, report: Report | None = None) -> None:
        self.metric, self.mode, self.keep_best = metric, mode, keep_best
        self.report = report or report_to_tune
        self.best = -math.inf if mode == "max" else math.inf
        self._validated_epoch = -1

    def state_dict(self) -> dict[str, float]:  # saved in the checkpoint: a resumed trial keeps its best
        return {"best": self.best}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        # keep_best=False: the checkpoint is another trial's (PBT exploit); this trial is ranked by what it
        # reaches with its own (mutated) settings, not by the donor's record
        if self.keep_best:
            self.best = state_dict["best"]

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validated_epoch = -1 if self.metric not in trainer.callback_metrics else trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._validated_epoch != trainer.current_epoch:  # no validation this epoch: nothing new to report
            return
        value = float(trainer.callback_metrics[self.metric])
        self.best = max(self.best, value) if self.mode == "max" else min(self.best, value)
        report = {self.metric: self.best, f"{self.metric}_epoch": value, "epoch": trainer.current_epoch + 1}
        with tempfile.TemporaryDirectory() as tmp:
            trainer.save_checkpoint(Path(tmp) / RESUME_FILE)  # DDP: every rank calls it, rank 0 writes
            self.report(report, tmp if trainer.is_global_zero else None)


class CloseRunWhenStopped(L.Callback):
    """Close the run's W&B run when the trial is stopped mid-training.

    Ray stops a function trial (a scheduler's STOP or PAUSE, the end of a study) by raising ``SystemExit`` in its
    training thread at its next report; Lightning then calls ``on_exception`` and re-raises, and ``train()`` never
    reaches its own close. A reused worker's next trial would otherwise log into the stopped trial's W&B run.
    """

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        finish_wandb(trainer, {})


Report = Callable[[dict, "str | None"], None]  # (metrics, directory of the checkpoint or None)


def report_to_tune(metrics: dict, checkpoint_dir: str | None) -> None:
    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None)


def final_result(metrics: dict, metric: str, placement: dict) -> dict:
    """A trial's final report: its best validation value plus its test metrics, size, time and latency, at the
    epoch of its last report (schedulers keyed on ``epoch`` see no progress, so they let it finish), and where
    it trained (``placement``; the node: which machine of a cluster)."""
    final = {metric: metrics[f"{metric}_best"], "epoch": metrics["epochs"], "final": True}
    node = ray.get_runtime_context().get_node_id()
    return {**_numeric(metrics), **final, "device": metrics.get("device", ""), "node_id": node, **placement}


def _numeric(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}
