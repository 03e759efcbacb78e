"""One study = one Ray Tune search over one model family on one dataset: ``run_study(cfg) -> summary``."""

from __future__ import annotations

import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from ray import tune
from ray.tune.schedulers import HyperBandScheduler, PopulationBasedTraining

from attentune.errors import ConfigError
from attentune.reports.summary import next_steps
from attentune.tasks.runconfig import validate_config
from attentune.tasks.task import task_of
from attentune.tasks.tracking import tracking_group
from attentune.tasks.train import write_json
from attentune.tuning.claim import Claim, YieldWhenBehind, claim_budget, release_budget
from attentune.tuning.cluster import concurrent_trials, placement, ray_session, trial_resources, workers_of
from attentune.tuning.config import base_training_config
from attentune.tuning.deadline import LearnTrialCosts, write_deadline
from attentune.tuning.results import KeepTopCheckpoints, TrialLines, empty_trial_table, trial_table
from attentune.tuning.searchers import make_search_alg, ray_settings_for_deadline
from attentune.tuning.space import default_point, derived_values, param_space, use_task_search
from attentune.tuning.trainable import run_trial, trainable

log = logging.getLogger(__name__)

STUDY_DIR = "study"


def _instantiate_optional(node: DictConfig | None) -> Any:
    return hydra.utils.instantiate(node) if node else None


def first_points(cfg: DictConfig, base: dict) -> list[dict]:
    """The family's default configuration as the study's first trial (``evaluate_default``): the search's
    best is then at least what ``train.py model=<family>`` trains, up to noise."""
    if not cfg.get("evaluate_default", True) or not cfg.search.get("space"):
        return []
    if any("grid" in spec for spec in OmegaConf.to_container(cfg.search.space).values()):
        return []  # a grid is evaluated whole, in its own order
    return [default_point(cfg.search, OmegaConf.create(base))]


def skipped_study(cfg: DictConfig, out: Path, base: dict, derived: dict, reason: str) -> dict[str, Any]:
    """A study the budget could not fit: listed, with its reason, and nothing trained."""
    log.warning("study %s: %s", cfg.study_name, reason)
    return _unrun_study(cfg, out, {"skipped": reason}, {"base": base, "derived": derived, "default": None})


def failed_study(cfg: DictConfig, out: Path, error: str) -> dict[str, Any]:
    """A study whose job failed or was ended (SLURM): listed as failed with its error; trials it had finished
    stay in its directory, but the study has no results of its own."""
    out.mkdir(parents=True, exist_ok=True)
    return _unrun_study(cfg, out, {"error": error}, {"base": None, "derived": {}, "default": None})


def _unrun_study(cfg: DictConfig, out: Path, why: dict[str, str], setup: dict) -> dict[str, Any]:
    empty_trial_table(cfg.monitor.metric).to_csv(out / "trials.csv", index=False)
    summary = {
        "study": cfg.study_name,
        "family": cfg.family,
        "metric": cfg.monitor.metric,
        "mode": cfg.monitor.mode,
        "trials": 0,
        "failed": 0,
        **why,
        "search_seconds": 0.0,
    }
    write_json(out / "study.json", summary)
    write_json(out / "base_config.json", setup)
    return summary


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
    use_task_search(cfg)
    if cfg.num_samples == 0 or cfg.num_samples < -1:  # Ray Tune: -1 = sample until time_budget_s ends the study
        raise ConfigError(f"num_samples={cfg.num_samples}: must be at least 1 (or -1: until time_budget_s)")
    space = param_space(cfg.search)
    derived = derived_values(cfg.search)
    base = base_training_config(cfg)
    base["family"] = str(cfg.family)  # resolved here: trials have no Hydra runtime
    wandb = (base.get("logger") or {}).get("wandb")
    if wandb is not None:  # W&B: a sweep's runs in one group, a study's trials one job type, each named after its trial
        wandb["group"] = wandb.get("group") or tracking_group(cfg)
        wandb["job_type"] = wandb.get("job_type") or str(cfg.study_name)
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
    points = first_points(cfg, base)
    claim: Claim = claim_budget(cfg, base)
    if claim.skip:
        return skipped_study(cfg, out, base, derived, claim.skip)
    time_budget_s = claim.time_budget_s
    if time_budget_s is not None:  # trials and the searcher keep this deadline; Ray's budget is the hard stop
        write_deadline(study_path.parent, time.time() + time_budget_s, claim.first_round_s, claim.finish_s)
        log.info("study %s: %.0f s", cfg.study_name, time_budget_s)
    trial = tune.with_resources(
        trainable(run_trial, base=base, derived=derived, study_path=str(study_path.resolve()), resources=resources),
        placement(resources),
    )
    os.environ.setdefault("WANDB_MODE", "offline")
    scheduler = _instantiate_optional(cfg.scheduler)
    ddp = workers_of(resources) > 1
    if ddp and isinstance(scheduler, PopulationBasedTraining | HyperBandScheduler):
        raise ConfigError(
            f"scheduler={type(scheduler).__name__} with trial.workers={workers_of(resources)}: a DDP trial resumes "
            "only from its own Ray Train checkpoints, so PBT cannot exploit and HyperBand cannot pause it; use asha "
            "or fifo"
        )
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
                    search_alg=make_search_alg(
                        cfg.searcher,
                        points,
                        concurrent_trials(cfg.max_concurrent, resources),
                        study_path.parent if time_budget_s is not None else None,
                        limit_variants=ddp,
                    ),
                    scheduler=scheduler,
                    num_samples=cfg.num_samples,
                    time_budget_s=None if time_budget_s is None else time_budget_s + hard_stop_grace(time_budget_s),
                    reuse_actors=cfg.reuse_actors and not ddp,  # a DDP trial's actor ends with its Train run
                    trial_name_creator=partial(trial_name, str(cfg.study_name)),
                    trial_dirname_creator=partial(trial_name, str(cfg.study_name)),
                ),
                run_config=tune.RunConfig(
                    name=STUDY_DIR,
                    storage_path=str(out),
                    failure_config=tune.FailureConfig(max_failures=0),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=keep),
                    callbacks=[KeepTopCheckpoints(cfg.keep_checkpoints, metric, mode), TrialLines(metric, mode)]
                    + ([LearnTrialCosts(study_path.parent)] if time_budget_s is not None else [])
                    + yield_when_behind(cfg, claim, study_path.parent, points[0] if points else None),
                    verbose=0,  # our line per trial (TrialLines), not Ray's tables per trial
                ),
            )
        start = time.perf_counter()
        with ray_settings_for_deadline(cfg.searcher, time_budget_s is not None):
            results = tuner.fit()
        search_seconds = time.perf_counter() - start
    table = trial_table(results, metric, mode, default=points[0] if points else None)
    scores = table[metric].dropna()
    release_budget(claim, None if scores.empty else float(scores.iloc[0]))  # trials.csv is sorted best first
    if table.empty:
        log.warning("study %s: no trial reported within its budget of %s s", cfg.study_name, time_budget_s)
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
        "time_budget_s": None if time_budget_s is None else round(time_budget_s, 1),
        "resources": resources,  # per trial: selection re-runs a configuration with what its trial had
    }
    write_json(out / "study.json", summary)
    write_json(out / "base_config.json", {"base": base, "derived": derived, "default": points[0] if points else None})
    print(
        f"study {cfg.study_name}: {summary['trials']} trials ({summary['failed']} failed) in "
        f"{search_seconds:.0f} s; {out / 'trials.csv'}",
        flush=True,
    )
    kept = [Path(d) / "checkpoints" / "best.ckpt" for d in table["trial_dir"].dropna()]
    best = next((c for c in kept if c.exists()), None)  # trials.csv is sorted best first
    in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if best is not None and not in_sweep:  # a sweep prints its winner's at the end instead
        print(next_steps(best, task_of(cfg).name, f"best checkpoint of {cfg.study_name}"))
    return summary


def trial_name(study: str, trial: Any) -> str:
    """A trial's name and directory: ``<study>_<trial id>``, a path Hydra's parser and a shell accept as it is."""
    return f"{study}_{trial.trial_id}"


def yield_when_behind(cfg: DictConfig, claim: Claim, run_dir: Path, default: dict | None) -> list[tune.Callback]:
    """In a planned sweep with a reference score: give time back when the default trial is far below it."""
    behind = cfg.budget_policy.get("behind_points")
    if claim.reference is None or claim.time_budget_s is None or behind is None:
        return []
    monitor = cfg.monitor
    return [YieldWhenBehind(run_dir, claim.reference, monitor.metric, monitor.mode, float(behind), default)]


def hard_stop_grace(time_budget_s: float) -> float:
    """How long past the deadline Ray lets trials run before it stops them (they normally end by themselves)."""
    return max(30.0, 0.1 * time_budget_s)


def check_keys(base: DictConfig, space: dict[str, Any], derived: dict[str, str]) -> None:
    """Every searched key must exist in the training config (a typo would otherwise be silently added),
    except new keys that a ``derived`` entry reads (e.g. ``head_dim``)."""
    used_by_derived = " ".join(map(str, derived.values()))
    for path in space:
        if OmegaConf.select(base, path, default="<missing>") == "<missing>" and f"${{{path}}}" not in used_by_derived:
            raise ConfigError(f"search.space.{path}: no such key in the training config")
