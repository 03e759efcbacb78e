"""A Ray Tune trial = ``train(cfg)`` on the training config with the trial's values applied."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import ray
import torch
from lightning.pytorch.callbacks import Checkpoint
from omegaconf import DictConfig, OmegaConf
from ray import tune
from ray.tune.trainable import wrap_function

from attentune.tasks.train import METRICS_FILE, train
from attentune.tuning.deadline import DeadlinePassed, StopBeforeDeadline, read_deadline, too_late_to_start
from attentune.tuning.space import apply_params

RESUME_FILE = "resume.ckpt"  # the full training state a paused or interrupted trial continues from
STOP_WAIT_S = 30  # how long a stopped trial may take to close its run (W&B) before its worker exits
# Ray waits this long (default 2 s) for a trial's training thread before a reused worker starts the next trial
WORKER_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": str(STOP_WAIT_S)}


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

    def __init__(self, metric: str, mode: str, keep_best: bool = True) -> None:
        self.metric, self.mode, self.keep_best = metric, mode, keep_best
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
            trainer.save_checkpoint(Path(tmp) / RESUME_FILE)
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(tmp))


def run_trial(params: dict[str, Any], base: dict, derived: dict[str, str], study_path: str) -> None:
    """Function trainable: ``base`` is the training config, ``params`` the sampled values.

    The run directory is the trial's directory in the study (``study_path``, on a filesystem every node
    sees), not Ray's local working directory: a worker reused for the next trial would not sync that.
    """
    _training["thread"] = threading.current_thread()  # what a stopping worker waits for (WaitForTraining)
    cfg = apply_params(OmegaConf.create(base), params, derived)
    gpus = place_on_assigned_gpu(cfg)
    threads = use_assigned_cpus()
    trial_dir = Path(study_path) / Path(tune.get_context().get_trial_dir()).name
    cfg.paths.output_dir = str(trial_dir)
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb is not None and wandb.get("name") is None:
        wandb.name = trial_dir.name
    monitor = cfg.monitor
    finished = trial_dir / METRICS_FILE
    if finished.exists():  # trained to the end before the driver was killed: report, do not train again
        metrics = json.loads(finished.read_text())
    else:
        resume_from = None
        own = True
        checkpoint = tune.get_checkpoint()
        deadline = read_deadline(Path(study_path).parent)  # the study's budget, kept by the trial itself
        if checkpoint is None and too_late_to_start(deadline):  # queued in time, reached a worker too late
            return  # reports nothing: not a row of trials.csv
        if checkpoint:  # a paused, exploited (PBT) or interrupted trial continues from a checkpoint
            own = Path(checkpoint.path).parent.name == trial_dir.name  # PBT: another trial's checkpoint
            resume_from = trial_dir / RESUME_FILE
            with checkpoint.as_directory() as src:
                shutil.copy2(Path(src) / RESUME_FILE, resume_from)
        callbacks: list[L.Callback] = [TuneReporter(monitor.metric, monitor.mode, keep_best=own)]
        if deadline is not None:
            callbacks.append(StopBeforeDeadline(deadline["deadline"], deadline["finish_s"]))
        try:
            metrics = train(cfg, callbacks=callbacks, resume_from=resume_from)
        except DeadlinePassed:  # never validated: like a trial that started too late, not a row of trials.csv
            return
        if deadline is not None:
            metrics["stopped_by_deadline"] = int(callbacks[-1].stopped_early)
    # Final report: the trial's best validation value plus its test metrics, size, time and latency, at the
    # epoch of its last report (schedulers keyed on ``epoch`` see no progress, so they let it finish).
    final = {monitor.metric: metrics[f"{monitor.metric}_best"], "epoch": metrics["epochs"], "final": True}
    node = ray.get_runtime_context().get_node_id()  # which machine of a cluster trained it
    placement = {"device": metrics.get("device", ""), "gpu_ids": gpus, "threads": threads, "node_id": node}
    tune.report({**_numeric(metrics), **final, **placement})


def place_on_assigned_gpu(cfg: DictConfig) -> str:
    """``trainer.accelerator: auto`` in a trial means the GPU Ray assigned it (``resources.gpu``, whole or a
    share), else the CPU: never a GPU that Ray gave to other trials. Returns Ray's GPU ids, comma-separated."""
    gpus = [str(i) for i in ray.get_gpu_ids()]  # Ray also sets CUDA_VISIBLE_DEVICES to these
    if cfg.trainer.accelerator == "auto":
        cfg.trainer.accelerator = "gpu" if gpus and torch.cuda.is_available() else "cpu"
        cfg.trainer.devices = 1
    return ",".join(gpus)


def use_assigned_cpus() -> int:
    """Train with as many torch threads as the trial has CPUs (``resources.cpu``): Ray's worker otherwise keeps
    the driver's ``OMP_NUM_THREADS`` (1 under ``make``), and a 2-CPU trial would leave a core idle."""
    cpus = max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)))
    torch.set_num_threads(cpus)
    return cpus


def run_job(params: dict[str, Any], jobs: list[dict], study_path: str) -> None:
    """Trainable over a list of prepared runs (``{"base", "params", "derived"}``), picked by ``params["job"]``."""
    job = jobs[params["job"]]
    run_trial(job["params"], job["base"], job["derived"], study_path)


def _numeric(metrics: dict) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


_training: dict[str, threading.Thread | None] = {"thread": None}  # the worker's trial thread (one at a time)


class WaitForTraining:
    """Lets a stopped trial's run close (its W&B run) before the worker exits or starts the next trial.

    To stop a function trial (a scheduler's STOP or PAUSE, the end of a study) Ray lets its training thread
    exit at its next ``tune.report`` (``SystemExit``, so ``train``'s ``finally`` runs) but does not wait for it
    when the worker shuts down, and waits only ``TUNE_FUNCTION_THREAD_TIMEOUT_S`` (set by ``WORKER_ENV``) before
    a reused worker starts the next trial. Module level, so that workers import it rather than unpickle a copy.
    """

    def cleanup(self) -> None:
        thread = _training["thread"]
        super().cleanup()  # tells the training thread to stop at its next report
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=STOP_WAIT_S)


def trainable(fn: Callable[..., None], **params: Any) -> type[tune.Trainable]:
    """``fn`` with ``params`` bound, as a Ray trainable class whose stop lets the trial's run close."""
    return type("Trial", (WaitForTraining, wrap_function(tune.with_parameters(fn, **params))), {})
