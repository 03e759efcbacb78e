"""One study = one Ray Tune search over one model family on one dataset: ``run_study(cfg) -> summary``."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining

from attentune.errors import ConfigError
from attentune.tasks.build import validate_config
from attentune.tasks.train import write_json
from attentune.tuning.cluster import ray_session, trial_resources
from attentune.tuning.results import KeepTopCheckpoints, trial_table
from attentune.tuning.space import derived_values, param_space
from attentune.tuning.trainable import run_trial, trainable

log = logging.getLogger(__name__)

STUDY_DIR = "study"
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
    if cfg.num_samples == 0 or cfg.num_samples < -1:  # Ray Tune: -1 = sample until time_budget_s ends the study
        raise ConfigError(f"num_samples={cfg.num_samples}: must be at least 1 (or -1: until time_budget_s)")
    space = param_space(cfg.search)
    derived = derived_values(cfg.search)
    base = base_training_config(cfg)
    wandb = (base.get("logger") or {}).get("wandb")
    if wandb is not None and wandb.get("group") is None:
        wandb["group"] = cfg.study_name  # W&B groups a study's trials (each run is named after its trial)
    check_keys(OmegaConf.create(base), space, derived)

    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    metric, mode = cfg.monitor.metric, cfg.monitor.mode
    restore_from = resolve_resume(cfg.resume, out)
    if restore_from is None and (out / STUDY_DIR).exists():  # never mix a new search into an earlier one
        raise ConfigError(
            f"hydra.run.dir: {out} already holds a study; resume=true continues it, or choose another dir"
        )
    study_path = restore_from or out / STUDY_DIR
    resources = trial_resources(cfg)
    trial = tune.with_resources(
        trainable(run_trial, base=base, derived=derived, study_path=str(study_path.resolve())), resources
    )
    os.environ.setdefault("WANDB_MODE", "offline")
    scheduler = _instantiate_optional(cfg.scheduler)
    # One resume state per trial keeps disk bounded; PBT restores trials from other trials' earlier
    # checkpoints, which must outlive their owner's next epoch.
    keep = None if isinstance(scheduler, PopulationBasedTraining) else 1
    with ray_session(cfg.ray, resources):
        if restore_from:
            log.info("resuming study %s", restore_from)
            tuner = tune.Tuner.restore(str(restore_from), trainable=trial, resume_errored=False)
        else:
            tuner = tune.Tuner(
                trial,
                param_space=space,
                tune_config=tune.TuneConfig(
                    metric=metric,
                    mode=mode,
                    search_alg=_instantiate_optional(cfg.searcher),
                    scheduler=scheduler,
                    num_samples=cfg.num_samples,
                    max_concurrent_trials=cfg.max_concurrent,
                    time_budget_s=cfg.get("time_budget_s"),
                    reuse_actors=cfg.reuse_actors,
                ),
                run_config=tune.RunConfig(
                    name=STUDY_DIR,
                    storage_path=str(out),
                    failure_config=tune.FailureConfig(max_failures=0),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=keep),
                    callbacks=[KeepTopCheckpoints(cfg.keep_checkpoints, metric, mode)],
                    verbose=1,
                ),
            )
        start = time.perf_counter()
        results = tuner.fit()
        search_seconds = time.perf_counter() - start
    table = trial_table(results, metric, mode)
    if table.empty:
        log.warning("study %s: no trial reported within time_budget_s=%s", cfg.study_name, cfg.time_budget_s)
    table.to_csv(out / "trials.csv", index=False)
    summary = {
        "study": cfg.study_name,
        "family": cfg.family,
        "metric": metric,
        "mode": mode,
        "study_path": str(study_path),
        "trials": len(table),
        "failed": int((table["status"] == "ERROR").sum()),
        "search_seconds": round(search_seconds, 2),
    }
    write_json(out / "study.json", summary)
    write_json(out / "base_config.json", {"base": base, "derived": derived})
    log.info("study %s: %s", cfg.study_name, json.dumps(summary))
    return summary


def check_keys(base: DictConfig, space: dict[str, Any], derived: dict[str, str]) -> None:
    """Every searched key must exist in the training config (a typo would otherwise be silently added),
    except new keys that a ``derived`` entry reads (e.g. ``head_dim``)."""
    used_by_derived = " ".join(map(str, derived.values()))
    for path in space:
        if OmegaConf.select(base, path, default="<missing>") == "<missing>" and f"${{{path}}}" not in used_by_derived:
            raise ConfigError(f"search.space.{path}: no such key in the training config")
