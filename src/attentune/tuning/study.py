"""One study = one Ray Tune search over one model family on one dataset: ``run_study(cfg) -> summary``."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from ray import tune

from attentune.errors import ConfigError
from attentune.tasks.build import validate_config
from attentune.tasks.train import write_json
from attentune.tuning.cluster import ray_session
from attentune.tuning.results import KeepTopCheckpoints, trial_table
from attentune.tuning.space import apply_params, derived_values, param_space
from attentune.tuning.trainable import run_trial

log = logging.getLogger(__name__)

STUDY_DIR = "study"
TRAIN_KEYS_EXCLUDED = (
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
    "selection",
)


def base_training_config(cfg: DictConfig) -> dict:
    """The resolved training part of a tune config (data paths made absolute: trials run elsewhere)."""
    train_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in TRAIN_KEYS_EXCLUDED])
    plain = OmegaConf.to_container(train_cfg, resolve=True)
    for key in ("path", "train_path", "val_path", "test_path"):
        if plain["data"].get(key):
            plain["data"][key] = hydra.utils.to_absolute_path(plain["data"][key])
    return plain


def _instantiate_optional(node: DictConfig | None) -> Any:
    return hydra.utils.instantiate(node) if node else None


def resolve_resume(resume: Any, output_dir: Path) -> Path | None:
    """``resume``: false, true (this run dir, or the newest earlier study of the same name) or a directory."""
    if resume in (None, False):
        return None
    if resume is True:
        candidates = [output_dir / STUDY_DIR]
    else:
        candidates = [
            Path(hydra.utils.to_absolute_path(str(resume))),
            Path(hydra.utils.to_absolute_path(str(resume))) / STUDY_DIR,
        ]
    for path in candidates:
        if tune.Tuner.can_restore(str(path)):
            return path
    raise ConfigError(f"resume: no restorable study at {candidates[-1]}")


def run_study(cfg: DictConfig) -> dict[str, Any]:
    """Search, write ``trials.csv`` and ``study.json`` under the run dir, return the study summary."""
    validate_config(cfg)
    space = param_space(cfg.search)
    derived = derived_values(cfg.search)
    base = base_training_config(cfg)
    # Fail on a bad space before starting Ray: apply one sample's worth of keys to the config.
    validate_config(apply_params(OmegaConf.create(base), {k: _first(v) for k, v in space.items()}, derived))

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    metric, mode = cfg.monitor.metric, cfg.monitor.mode
    restore_from = resolve_resume(cfg.resume, out)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, base=base, derived=derived),
        {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu},
    )
    os.environ.setdefault("WANDB_MODE", "offline")
    with ray_session(cfg.ray):
        if restore_from:
            log.info("resuming study %s", restore_from)
            tuner = tune.Tuner.restore(str(restore_from), trainable=trainable, resume_errored=False)
            study_path = restore_from
        else:
            study_path = out / STUDY_DIR
            tuner = tune.Tuner(
                trainable,
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    search_alg=_instantiate_optional(cfg.searcher),
                    scheduler=_instantiate_optional(cfg.scheduler),
                    num_samples=cfg.num_samples,
                    max_concurrent_trials=cfg.max_concurrent,
                    time_budget_s=cfg.get("time_budget_s"),
                ),
                run_config=tune.RunConfig(
                    name=STUDY_DIR,
                    storage_path=str(out),
                    failure_config=tune.FailureConfig(max_failures=0),
                    callbacks=[KeepTopCheckpoints(cfg.keep_checkpoints, metric, mode)],
                    verbose=1,
                ),
            )
        results = tuner.fit()
    table = trial_table(results, metric, mode)
    table.to_csv(out / "trials.csv", index=False)
    summary = {
        "study": cfg.study_name,
        "family": cfg.family,
        "metric": metric,
        "mode": mode,
        "study_path": str(study_path),
        "trials": len(table),
        "failed": int((table["status"] == "ERROR").sum()),
    }
    write_json(out / "study.json", summary)
    write_json(out / "base_config.json", {"base": base, "derived": derived})
    log.info("study %s: %s", cfg.study_name, json.dumps(summary))
    return summary


def _first(sampler: Any) -> Any:
    """A representative value of a Ray Tune domain (for validating the space up front)."""
    if isinstance(sampler, dict) and "grid_search" in sampler:
        return sampler["grid_search"][0]
    return sampler.sample() if hasattr(sampler, "sample") else sampler
