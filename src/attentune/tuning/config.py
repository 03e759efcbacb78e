"""The training part of a tune config: what every trial of a study starts from."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

TRAIN_KEYS_EXCLUDED = (
    "family",
    "study_name",
    "sweep_dir",
    "search",
    "searcher",
    "scheduler",
    "ray",
    "num_samples",
    "max_concurrent",
    "resources",
    "resume",
    "keep_checkpoints",
    "time_budget_s",
    "reuse_actors",
    "selection",
    "budget",
    "budget_policy",
    "evaluate_default",
    "trial",
)


def base_training_config(cfg: DictConfig) -> dict:
    """The training part of a tune config, left unresolved so that interpolations follow each trial's
    values (``max_length`` reaches ``model.max_length``); only what needs Hydra's runtime is fixed here."""
    train_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in TRAIN_KEYS_EXCLUDED])
    train_cfg.paths.output_dir = None  # each trial writes to its own trial directory
    for key in ("path", "train_path", "val_path", "test_path"):  # trials run in other working directories
        if train_cfg.data.get(key):
            train_cfg.data[key] = hydra.utils.to_absolute_path(train_cfg.data[key])
    return OmegaConf.to_container(train_cfg, resolve=False)
