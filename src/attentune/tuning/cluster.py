"""Starting and stopping Ray: a local instance of our own by default, or an existing cluster."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterator

import ray
from omegaconf import DictConfig

log = logging.getLogger(__name__)


@contextlib.contextmanager
def ray_session(cfg: DictConfig) -> Iterator[None]:
    """Join ``cfg.address`` (a cluster address or ``auto``), or start a private local Ray and stop it after.

    A local instance gets an explicit CPU/GPU count and a temp dir of its own (short: Ray's socket
    paths must fit in 107 bytes), so two studies never share or kill each other's Ray.
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
        )
    else:
        ray.init(address=cfg.address, log_to_driver=cfg.log_to_driver)
    try:
        yield
    finally:
        ray.shutdown()  # stops only the processes of the instance we started (or detaches from a cluster)
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
