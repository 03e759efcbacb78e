"""A Ray Tune trial = ``train(cfg)`` on the training config with the trial's values applied."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import ray
import torch
from omegaconf import DictConfig, OmegaConf
from ray import tune
from ray.tune.trainable import wrap_function

from attentune.quiet import quiet_libraries
from attentune.tasks.train import METRICS_FILE, train
from attentune.tuning.ddp_trial import run_ddp_trial
from attentune.tuning.deadline import DeadlinePassed, StopBeforeDeadline, read_deadline, too_late_to_start
from attentune.tuning.exploit import AdoptedCheckpoint, ConfiguredOptimizer
from attentune.tuning.memo import WORKER
from attentune.tuning.reporting import RESUME_FILE, CloseRunWhenStopped, TuneReporter, final_result
from attentune.tuning.space import apply_params

STOP_WAIT_S = 30  # how long a stopped trial may take to close its run (W&B) before its worker exits
# Ray waits this long (default 2 s) for a trial's training thread before a reused worker starts the next trial
WORKER_ENV = {"TUNE_FUNCTION_THREAD_TIMEOUT_S": str(STOP_WAIT_S)}


def run_trial(
    params: dict[str, Any], base: dict, derived: dict[str, str], study_path: str, resources: dict | None = None
) -> None:
    """Function trainable: ``base`` is the training config, ``params`` the sampled values, ``resources`` the
    trial's (``cluster.trial_resources``: with ``workers`` > 1 the trial trains with DDP on Ray Train).

    The run directory is the trial's directory in the study (``study_path``, on a filesystem every node
    sees), not Ray's local working directory: a worker reused for the next trial would not sync that.
    """
    quiet_libraries()
    _training["thread"] = threading.current_thread()  # what a stopping worker waits for (WaitForTraining)
    cfg = apply_params(OmegaConf.create(base), params, derived)
    trial_dir = Path(study_path) / Path(tune.get_context().get_trial_dir()).name
    cfg.paths.output_dir = str(trial_dir)
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb is not None and wandb.get("name") is None:
        wandb.name = trial_dir.name
    finished = trial_dir / METRICS_FILE
    if finished.exists():  # trained to the end before the driver was killed: report, do not train again
        tune.report(final_result(json.loads(finished.read_text()), cfg.monitor.metric, {}))
        return
    deadline = read_deadline(Path(study_path).parent)  # the study's budget, kept by the trial itself
    if (resources or {}).get("workers", 1) > 1:
        _training["thread"] = None  # stopped, this actor ends the Train run with it: no thread of its own to wait for
        if not too_late_to_start(deadline):
            run_ddp_trial(cfg, trial_dir, resources, deadline)  # its ranks report, the final result included
        return
    gpus = place_on_assigned_gpu(cfg)
    threads = use_assigned_cpus()
    monitor = cfg.monitor
    resume_from = None
    own = True
    checkpoint = tune.get_checkpoint()
    if checkpoint is None and too_late_to_start(deadline):  # queued in time, reached a worker too late
        return  # reports nothing: not a row of trials.csv
    if checkpoint:  # a paused, exploited (PBT) or interrupted trial continues from a checkpoint
        own = Path(checkpoint.path).parent.name == trial_dir.name  # PBT: another trial's checkpoint
        resume_from = trial_dir / RESUME_FILE
        with checkpoint.as_directory() as src:
            shutil.copy2(Path(src) / RESUME_FILE, resume_from)
    callbacks: list[L.Callback] = [TuneReporter(monitor.metric, monitor.mode, keep_best=own), CloseRunWhenStopped()]
    callbacks += [ConfiguredOptimizer(), AdoptedCheckpoint()]  # both change nothing on a fresh run
    if deadline is not None:
        callbacks.append(StopBeforeDeadline(deadline["deadline"], deadline["finish_s"]))
    try:
        metrics = train(cfg, callbacks=callbacks, resume_from=resume_from, data=WORKER)
    except DeadlinePassed:  # never validated: like a trial that started too late, not a row of trials.csv
        return
    if deadline is not None:
        metrics["stopped_by_deadline"] = int(callbacks[-1].stopped_early)
    tune.report(final_result(metrics, monitor.metric, {"gpu_ids": gpus, "threads": threads}))


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
    run_trial(job["params"], job["base"], job["derived"], study_path, job.get("resources"))


_training: dict[str, threading.Thread | None] = {"thread": None}  # the worker's trial thread (one at a time)


class WaitForTraining:
    """Lets a stopped trial's run close (its W&B run) before the worker exits or starts the next trial.

    To stop a function trial (a scheduler's STOP or PAUSE, the end of a study) Ray lets its training thread
    exit at its next ``tune.report`` (``SystemExit``: ``CloseRunWhenStopped`` closes its W&B run) but does not wait
    for it when the worker shuts down, and waits only ``TUNE_FUNCTION_THREAD_TIMEOUT_S`` (set by ``WORKER_ENV``) before
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
