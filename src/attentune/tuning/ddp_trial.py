"""A DDP trial (``trial.workers`` > 1): the Tune trial drives a Ray Train run whose ranks train its one configuration.

Ray Train V2 runs inside the Tune trial (``Tuner(TorchTrainer)`` is gone in Ray 2.60): the trial's actor starts a
``TorchTrainer`` and waits for it, and ``TuneReportCallback`` forwards rank 0's reports to Tune, where the
scheduler (ASHA) decides on them. Every rank receives the configuration the trial sampled (the driver sends it
whole; no rank samples), trains with ``ray.train.lightning``'s DDP strategy and environment (gloo on CPUs, nccl on
GPUs) and reports after each validated round, rank 0 with the checkpoint. The Train run keeps its checkpoints
in the trial's directory (``TRAIN_RUN``), so a trial restarted with the same name continues from the last one:
after the driver was killed (``resume=``). A stopped trial's actor ends its Train run with it (Ray ends actors
with their owner).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import ray
import ray.train
import torch
from omegaconf import DictConfig, OmegaConf
from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from attentune.tasks.build import to_plain
from attentune.tasks.train import train, write_json
from attentune.tuning.deadline import DeadlinePassed, StopBeforeDeadline
from attentune.tuning.reporting import RESUME_FILE, CloseRunWhenStopped, TuneReporter, final_result

TRAIN_RUN = "ddp"  # the Train run's directory (checkpoints, state) in the trial's directory
RANKS_DIR = "ranks"  # rank<r>.json: what each rank trained, and where


def run_ddp_trial(cfg: DictConfig, trial_dir: Path, resources: dict, deadline: dict | None) -> None:
    """Train ``cfg`` on ``resources["workers"]`` Ray Train workers with ``resources`` each; returns when they are done.

    A failed rank fails the trial with its error (``max_failures=0``, as for other trials).
    """
    per_worker = {"CPU": resources["cpu"]} | ({"GPU": resources["gpu"]} if resources["gpu"] else {})
    trainer = TorchTrainer(
        train_rank,
        train_loop_config={
            "cfg": OmegaConf.to_container(cfg, resolve=False),
            "resources": resources,
            "deadline": deadline,
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=int(resources["workers"]), use_gpu=bool(resources["gpu"]), resources_per_worker=per_worker
        ),
        run_config=ray.train.RunConfig(
            name=TRAIN_RUN,
            storage_path=str(trial_dir),
            callbacks=[TuneReportCallback()],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),  # a resume state, as other trials keep
            failure_config=ray.train.FailureConfig(max_failures=0),
        ),
    )
    trainer.fit()


def train_rank(config: dict) -> None:
    """One rank of a DDP trial (a Ray Train worker): train, report each validated round and the final result."""
    cfg = OmegaConf.create(config["cfg"])
    resources, deadline = config["resources"], config["deadline"]
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.set_num_threads(max(1, int(resources["cpu"])))
    on_gpu = bool(resources["gpu"]) and torch.cuda.is_available()

    callbacks = [TuneReporter(cfg.monitor.metric, cfg.monitor.mode, report=report_to_train), CloseRunWhenStopped()]
    if deadline is not None:
        callbacks.append(StopBeforeDeadline(deadline["deadline"], deadline["finish_s"]))
    trainer_args = {
        "strategy": RayDDPStrategy(),
        "plugins": [RayLightningEnvironment()],
        "accelerator": "gpu" if on_gpu else "cpu",
        "devices": "auto",  # this rank's device: Ray Train gives each worker its own GPU
    }
    checkpoint = ray.train.get_checkpoint()  # the Train run's last, when the trial was restarted
    record_rank(cfg, rank, context.get_world_size(), checkpoint.path if checkpoint else None)
    with checkpoint.as_directory() if checkpoint else contextlib.nullcontext() as restored:
        resume_from = Path(restored) / RESUME_FILE if restored else None
        try:
            metrics = train(cfg, callbacks, resume_from, trainer_args)
        except DeadlinePassed:  # every rank raises it at the same batch: nothing to report
            return
    if deadline is not None and metrics:
        metrics["stopped_by_deadline"] = int(callbacks[-1].stopped_early)
    placement = {"gpu_ids": ",".join(map(str, ray.get_gpu_ids())), "threads": torch.get_num_threads()}
    # every rank reports as often as the others; rank 0's report (the others return no metrics) reaches Tune
    ray.train.report(final_result(metrics, cfg.monitor.metric, placement) if rank == 0 else {})


def report_to_train(metrics: dict, checkpoint_dir: str | None) -> None:
    """A round's report from every rank (Ray Train's report is a barrier); rank 0's carries the checkpoint."""
    checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
    ray.train.report(metrics, checkpoint=checkpoint)


def record_rank(cfg: DictConfig, rank: int, world_size: int, resumed_from: str | None) -> None:
    """``<trial>/ranks/rank<r>.json``: the configuration this rank trains (every rank's must be the same), the
    checkpoint it continues from, its process and node."""
    node = ray.get_runtime_context().get_node_id()
    out = Path(cfg.paths.output_dir) / RANKS_DIR
    out.mkdir(parents=True, exist_ok=True)
    record = {"rank": rank, "world_size": world_size, "pid": os.getpid(), "node_id": node}
    record |= {"resumed_from": resumed_from, "config": to_plain(cfg)}
    write_json(out / f"rank{rank}.json", json.loads(json.dumps(record, default=str)))
