"""What differs between the processes of one multi-process (DDP) run.

Every rank reads the same data split (same config, same seed) and trains on its shard of it; rank 0 alone
trains the tokenizer and writes the run directory (config, tokenizer, checkpoints, metrics). The other ranks
load rank 0's tokenizer, so every rank has one vocabulary, and stop after fitting: rank 0 then tests the
best checkpoint and measures latency in a single process, so test metrics are exact (no sampler padding).
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import torch.distributed as dist

from attentune.errors import ConfigError

WAIT_S = 600.0  # how long a rank waits for rank 0's tokenizer (rank 0 may still be reading a large dataset)


def wait_for(path: Path, timeout_s: float = WAIT_S, poll_s: float = 0.2) -> Path:
    """``path`` once rank 0 has written it. With Lightning's own launcher it is there already (rank 0 starts
    the other ranks at ``fit``); with an external launcher (``srun``, ``torchrun``, Ray Train) all ranks start
    together."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"rank 0 wrote no {path} within {timeout_s:.0f} s")
        time.sleep(poll_s)
    return path


def refuse_relaunch_under_multirun(trainer: L.Trainer) -> None:
    """Lightning's ``ddp`` starts the other ranks by running the script again with the same arguments; under a
    Hydra ``-m`` sweep each of them would run the whole sweep again. One DDP run at a time works."""
    if trainer.world_size == 1 or trainer.strategy.cluster_environment.creates_processes_externally:
        return
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise ConfigError(
            f"trainer.devices={trainer.num_devices} with -m: Lightning's DDP re-runs the script once per process, "
            "which would re-run the whole sweep; run each DDP job on its own (no -m), or tune with trial.workers=N"
        )


def end_process_group() -> None:
    """After ``fit``: leave the ranks' process group, so that rank 0's single-process test and torchmetrics'
    sync do not wait for ranks that have finished."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


class SyncEpochMetrics(L.Callback):
    """Every rank reduces the epoch's ``sync_dist`` metrics at the same point, first among the callbacks.

    Lightning reduces them lazily, on first read. Rank 0's progress bar reads them at the end of a training epoch
    and the other ranks have no progress bar: without a callback that reads them on every rank before it (early
    stopping does), rank 0's all-reduce meets another collective of the other ranks and the run hangs.
    """

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:
            trainer.callback_metrics  # noqa: B018  the read is the point: it reduces across ranks
