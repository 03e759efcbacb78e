"""Starting and stopping Ray: a local instance of our own by default, or an existing cluster."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import ray
from omegaconf import DictConfig, OmegaConf
from ray.tune import PlacementGroupFactory

from attentune.errors import ConfigError
from attentune.raysession import ray_session as shared_session
from attentune.tuning.trainable import WORKER_ENV

log = logging.getLogger(__name__)


# A DDP trial's Tune actor only drives Ray Train, whose workers reserve the trial's CPUs and GPUs themselves; Ray
# needs some resource per trial: a token of memory (bytes), which any node has.
DRIVER = {"memory": 2**20}


def trial_resources(cfg: DictConfig) -> dict[str, float]:
    """Ray resources per trial (``cfg.resources``: CPUs, at most one GPU, whole or shared, e.g. 0.5) and its DDP
    ``workers`` (``cfg.trial.workers``: each worker has ``cfg.resources``)."""
    cpu, gpu = float(cfg.resources.cpu), float(cfg.resources.gpu)
    workers = int(OmegaConf.select(cfg, "trial.workers", default=1))
    if cpu < 0 or gpu < 0:
        raise ConfigError(f"resources: cpu={cpu:g}, gpu={gpu:g}: amounts per trial cannot be negative")
    if workers < 1:
        raise ConfigError(f"trial.workers={workers}: a trial trains on at least one worker")
    if gpu > 1:
        raise ConfigError(
            f"resources.gpu={gpu:g}: a trial runs on at most one GPU (a fraction such as 0.5 shares one); for DDP "
            "over several GPUs set trial.workers=N (one GPU each)"
        )
    if str(cfg.trainer.get("strategy", "auto")).startswith("ddp") or str(cfg.trainer.devices) not in ("1", "auto"):
        raise ConfigError(
            f"trainer.devices={cfg.trainer.devices}, trainer.strategy={cfg.trainer.get('strategy', 'auto')}: a trial "
            "trains in one process (Lightning's DDP would re-run tune.py); for DDP trials set trial.workers=N"
        )
    if not gpu and cfg.trainer.accelerator in ("gpu", "cuda"):  # Ray would give its trials no GPU to run on
        raise ConfigError(f"trainer.accelerator={cfg.trainer.accelerator}: set resources.gpu (e.g. 0.5 or 1) per trial")
    if workers > 1 and cpu < 1:
        raise ConfigError(f"resources.cpu={cpu:g} with trial.workers={workers}: each DDP worker needs a whole CPU")
    return {"cpu": cpu, "gpu": gpu, "workers": workers}


def workers_of(resources: dict[str, float]) -> int:
    return int(resources.get("workers", 1))  # study.json files written before DDP trials have no "workers"


def whole_trial(resources: dict[str, float]) -> dict[str, float]:
    """What one trial occupies in all: its workers' CPUs and GPUs together."""
    return {"cpu": resources["cpu"] * workers_of(resources), "gpu": resources["gpu"] * workers_of(resources)}


def placement(resources: dict[str, float]) -> PlacementGroupFactory:
    """What Tune reserves for a trial's actor: the trial's CPUs and GPU share, or, for a DDP trial, the token
    ``DRIVER`` (Ray Train reserves its workers' resources when the trial starts it)."""
    if workers_of(resources) > 1:
        return PlacementGroupFactory([DRIVER])
    return PlacementGroupFactory([{"CPU": resources["cpu"], "GPU": resources["gpu"]}])


def concurrent_trials(max_concurrent: int, resources: dict[str, float]) -> int:
    """``max_concurrent``, or fewer for DDP trials: as many as the Ray cluster holds at once. Tune bounds other
    trials by their own reservations; a DDP trial's actor reserves nothing, and one started without room for its
    workers would wait for them, holding its place in the search."""
    if workers_of(resources) == 1:
        return max_concurrent
    have = ray.cluster_resources()
    fits = [have.get(name.upper(), 0.0) // need for name, need in whole_trial(resources).items() if need > 0]
    return max(1, min([max_concurrent, *map(int, fits)]))


def _check_fits(trial: dict[str, float]) -> None:
    """A trial that asks for more than the whole local instance has would wait forever: say so instead."""
    have = ray.cluster_resources()
    for name, amount in whole_trial(trial).items():
        total = have.get(name.upper(), 0.0)
        if amount > total:
            workers = f" x trial.workers={workers_of(trial)}" if workers_of(trial) > 1 else ""
            raise ConfigError(
                f"resources.{name}={trial[name]:g} per trial{workers}, but the local Ray instance has {total:g} "
                f"{name.upper()}s (set ray.num_{name}s, or join a cluster with ray.address)"
            )


@contextlib.contextmanager
def ray_session(cfg: DictConfig, trial: dict[str, float] | None = None) -> Iterator[None]:
    """Join ``cfg.address`` (a cluster address or ``auto``), or start a private local Ray and stop it after.

    A local instance gets an explicit CPU count, the GPUs it detects unless ``num_gpus`` is set, and a
    temp dir of its own (short: Ray's socket paths must fit in 107 bytes), so two studies never share or
    kill each other's Ray; it must hold one ``trial`` (its resources). A cluster may autoscale: not checked.
    """
    with shared_session(cfg, WORKER_ENV) as local:
        if local and trial:
            _check_fits(trial)
        yield
