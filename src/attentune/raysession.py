"""Starting and stopping Ray, for every command that runs on it (``tune.py``, ``serve.py``): a private local
instance by default, or an existing cluster (``ray.address``)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

from omegaconf import DictConfig


@contextlib.contextmanager
def ray_session(cfg: DictConfig, env: dict[str, str] | None = None) -> Iterator[bool]:
    """Join ``cfg.address`` (a cluster address or ``auto``), or start a private local Ray and stop it after; yields
    whether the instance is our own local one. A local instance gets an explicit CPU count, the GPUs it detects
    unless ``num_gpus`` is set, and a temp dir of its own (short: Ray's socket paths must fit in 107 bytes), so two
    commands never share or kill each other's Ray. ``env``: environment variables for Ray's workers."""
    import ray

    if ray.is_initialized():  # e.g. tests that run several studies in one Ray
        yield False
        return
    temp_dir = None
    runtime_env = {"env_vars": env} if env else None
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
            runtime_env=runtime_env,
        )
    else:
        ray.init(address=cfg.address, log_to_driver=cfg.log_to_driver, runtime_env=runtime_env)
    try:
        yield temp_dir is not None
    finally:
        ray.shutdown()  # stops only the processes of the instance we started (or detaches from a cluster)
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
