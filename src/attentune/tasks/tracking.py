"""What a run tells its experiment trackers (W&B, TensorBoard, CSV), so that dashboards can compare runs.

Every run logs its composed, resolved config as flat dotted keys (``model.num_heads``), plus its family, its
model's parameter count and its dataset's sizes, through each Lightning logger's ``log_hyperparams`` (W&B
``config``, TensorBoard hparams, CSV ``hparams.yaml``). A W&B run is named and grouped before it starts:
- ``train.py``: ``<family>_<dataset>_<HHMMSS>``, tags family, dataset and task;
- a tuning trial: name = the trial (``<study>_<trial id>``), ``job_type`` = its study, ``group`` = its sweep (or,
  alone, its study's run directory), set by the tuner in the trial's config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from omegaconf import DictConfig, OmegaConf, open_dict


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger without the ``anonymous`` argument, which wandb >= 0.19 no longer uses and warns
    about on every run ("The anonymous setting has no effect") even when it is None."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wandb_init.pop("anonymous", None)


def family_of(cfg: DictConfig) -> str:
    """The model family (the ``model=`` option), or the model's class name for a config composed without Hydra's
    runtime (tests, a checkpoint's config)."""
    try:
        family = cfg.get("family")  # a trial's config: set by its study
    except Exception:  # noqa: BLE001 - tune.yaml's ${hydra:...} outside a Hydra run
        family = None
    if family is None and HydraConfig.initialized():
        family = HydraConfig.get().runtime.choices.get("model")
    return str(family or str(cfg.model.get("_target_", "model")).rsplit(".", 1)[-1])


def name_runs(cfg: DictConfig, dataset_name: str, task: str) -> None:
    """Give a W&B logger (when the run has one) its name and tags before its run starts: the trial's name and
    group when the tuner set them, else ``<family>_<dataset>_<time>``."""
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb is None:
        return
    family = family_of(cfg)
    with open_dict(wandb):
        if wandb.get("name") is None:
            wandb.name = f"{family}_{dataset_name}_{time.strftime('%H%M%S')}"
        wandb.tags = sorted({*(wandb.get("tags") or []), family, dataset_name, task})


def tracking_group(cfg: DictConfig) -> str:
    """The W&B group of a sweep's runs (its trials, seed re-runs and leaderboard run): the sweep's directory as its
    last two parts; a study run alone groups by its own directory."""
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    where = cfg.get("sweep_dir") or (HydraConfig.get().sweep.dir if in_sweep else cfg.paths.output_dir)
    return "/".join(Path(str(where)).resolve().parts[-2:])


def flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as ``{"model.num_heads": 4, ...}`` (lists stay lists; the logger section is left out)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            out[prefix] = node

    walk({k: v for k, v in plain.items() if k not in ("logger", "hydra", "family")}, "")
    return out


def log_run_facts(loggers: list[Any], cfg: DictConfig, facts: dict[str, Any]) -> None:
    """Every logger's hyperparameters: the flat config and ``facts`` (family, parameter count, dataset sizes)."""
    params = flat_config(cfg) | {"family": family_of(cfg)} | facts
    for logger in loggers:
        logger.log_hyperparams(params)
