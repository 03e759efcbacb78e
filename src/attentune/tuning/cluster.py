"""Starting and stopping Ray: a local instance of our own by default, or an existing cluster."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator

import ray
from omegaconf import DictConfig

from attentune.errors import ConfigError
from attentune.tuning.trainable import WORKER_ENV

log = logging.getLogger(__name__)


def trial_resources(cfg: DictConfig) -> dict[str, float]:
    """Ray resources per trial (``cfg.resources``): CPUs, and at most one GPU, whole or shared (e.g. 0.5)."""
    cpu, gpu = float(cfg.resources.cpu), float(cfg.resources.gpu)
    if cpu < 0 or gpu < 0:
        raise ConfigError(f"resources: cpu={cpu:g}, gpu={gpu:g}: amounts per trial cannot be negative")
    if gpu > 1:
        raise ConfigError(
            f"resources.gpu={gpu:g}: a trial runs on at most one GPU (a fraction such as 0.5 shares one); "
            "for multi-GPU DDP training use python src/train.py trainer=ddp"
        )
    if str(cfg.trainer.get("strategy", "auto")).startswith("ddp") or str(cfg.trainer.devices) not in ("1", "auto"):
        raise ConfigError(
            f"trainer.devices={cfg.trainer.devices}, trainer.strategy={cfg.trainer.get('strategy', 'auto')}: a trial "
            "trains in one process (Lightning's DDP would re-run tune.py); use train.py trainer=ddp for DDP"
        )
    if not gpu and cfg.trainer.accelerator in ("gpu", "cuda"):  # Ray would give its trials no GPU to run on
        raise ConfigError(f"trainer.accelerator={cfg.trainer.accelerator}: set resources.gpu (e.g. 0.5 or 1) per trial")
    return {"cpu": cpu, "gpu": gpu}


def _check_fits(trial: dict[str, float]) -> None:
    """A trial that asks for more than the whole local instance has would wait forever: say so instead."""
    have = ray.cluster_resources()
    for name, amount in trial.items():
        total = have.get(name.upper(), 0.0)
        if amount > total:
            raise ConfigError(
                f"resources.{name}={amount:g} per trial, but the local Ray instance has {total:g} "
                f"{name.upper()}s (set ray.num_{name}s, or join a cluster with ray.address)"
            )


@contextlib.contextmanager
def ray_session(cfg: DictConfig, trial: dict[str, float] | None = None) -> Iterator[None]:
    """Join ``cfg.address`` (a cluster address or ``auto``), or start a private local Ray and stop it after.

    A local instance gets an explicit CPU count, the GPUs it detects unless ``num_gpus`` is set, and a
    temp dir of its own (short: Ray's socket paths must fit in 107 bytes), so two studies never share or
    kill each other's Ray; it must hold one ``trial`` (its resources). A cluster may autoscale: not checked.
    """
    if ray.is_initialized():  # e.g. tests that run several studies in one Ray
        yield
        return
    temp_dir = None
    if cfg.address in (None, "local"):
        temp_dir = tempfile.mkdtemp(prefix="attentune-ray-")
        ray.init(
            address="local",
            num_cpus=cfg.num_cpus,
            num_gpus=cfg.num_gpus,
            _temp_dir=temp_dir,
            include_dashboard=False,
            log_to_driver=cfg.log_to_driver,
            configure_logging=False,
            runtime_env={"env_vars": WORKER_ENV},
        )
    else:
        ray.init(address=cfg.address, log_to_driver=cfg.log_to_driver, runtime_env={"env_vars": WORKER_ENV})
    try:
        if temp_dir and trial:
            _check_fits(trial)
        yield
    finally:
        ray.shutdown()  # stops only the processes of the instance we started (or detaches from a cluster)
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
