"""A ``-m`` sweep's budget: planned once before its studies (a Hydra callback), claimed by each study as it starts.

The plan (``<sweep dir>/budget_plan.json``) lists every job of the sweep with its probed trial cost and share;
see ``attentune.tuning.budget`` for the policy. A study outside a planned sweep (``tune.py model=mha``)
probes itself and gets the whole ``budget``.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from attentune.errors import AttentuneError, ConfigError
from attentune.tasks.build import apply_example_budget
from attentune.tasks.prepare import RunData
from attentune.tasks.probe import probe_run_cost
from attentune.tuning.budget import (
    NO_TIME,
    PLAN_FILE,
    StudyBudget,
    SweepPlan,
    TrialCost,
    max_useful_seconds,
    parse_budget,
    too_small,
)
from attentune.tuning.memo import MemoizedRunData
from attentune.tuning.space import apply_params, default_point, derived_values, use_task_search

log = logging.getLogger(__name__)


def default_trial(cfg: DictConfig, base: dict) -> DictConfig:
    """The training config of a study's first trial: the family's default configuration, as a trial runs it.

    With ``evaluate_default=false`` the defaults need not be a point of the space: then the training config
    itself, with the space's constant settings (MiniLM's whole-epoch rounds), stands for a typical trial.
    """
    derived = derived_values(cfg.search)
    try:
        return apply_params(OmegaConf.create(base), default_point(cfg.search, OmegaConf.create(base)), derived)
    except ConfigError:
        if cfg.get("evaluate_default", True):
            raise
        constants = {k: v for k, v in derived.items() if "${" not in str(v)}
        return apply_params(OmegaConf.create(base), {}, constants)


def probe_study(cfg: DictConfig, base: dict, key: str, name: str, data: RunData | None = None) -> StudyBudget:
    """A study's plan entry: its default trial probed on its data (``data``: the planner's memo), and what its
    ``num_samples`` can use."""
    trial = default_trial(cfg, base)
    cost = probe_run_cost(trial, threads=int(cfg.resources.cpu) or 1, data=data)
    apply_example_budget(trial, cost.n_examples)
    entry = StudyBudget(key=key, name=name, weight=float(cfg.search.get("budget_weight", 1.0)), cost=cost.as_dict())
    entry.skip = too_small(cost, trial)
    if entry.skip:
        entry.skip = f"skipped: {entry.skip}"
        return entry
    trial_cost = TrialCost.of(cost, trial, float(cfg.budget_policy.safety))
    entry.trial_s, entry.first_round_s = trial_cost.full_s, trial_cost.first_round_s
    entry.cost |= {"finish_s": trial_cost.finish_s, "rounds": trial_cost.rounds}
    entry.max_useful_s = max_useful_seconds(trial_cost.full_s, int(cfg.num_samples), int(cfg.max_concurrent))
    if cfg.get("time_budget_s") is not None:
        entry.fixed_s = float(cfg.time_budget_s)
    log.info(
        "budget: %s: a default trial ≈ %.0f s (first report ≈ %.0f s) on %d training examples (%d batch items)",
        name,
        entry.trial_s,
        entry.first_round_s,
        cost.n_examples,
        cost.n_train,
    )
    return entry


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """The task overrides of every job, as Hydra's basic sweeper builds them (its params, then the command line)."""
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides([*params, *config.hydra.overrides.task])
    final: OrderedDict[str, list[str]] = OrderedDict()
    for o in overrides:
        key = o.get_key_element()
        if o.is_sweep_override():
            final[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            final[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*final.values())]


def job_key(overrides: list[str]) -> str:
    return "\n".join(sorted(overrides))


def plan_sweep(config: DictConfig) -> SweepPlan | None:
    """Probe every job of the sweep and share ``config.budget`` among them; None without a budget."""
    from attentune.tuning.study import base_training_config  # study imports this module

    budget = parse_budget(config.get("budget"))
    if budget is None:
        return None
    start = time.time()
    entries = []
    jobs = sweep_jobs(config)
    memo = MemoizedRunData()  # jobs on the same data load it once; dropped with the plan
    varying = [i for i in range(len(jobs[0])) if len({job[i] for job in jobs}) > 1] if jobs else []
    for overrides in jobs:
        job = compose(config_name=config.hydra.job.config_name, overrides=overrides, return_hydra_config=True)
        use_task_search(job)  # the study searches (and its default trial is) its task's space
        name = " ".join(overrides[i] for i in varying) or " ".join(overrides) or "default"
        entries.append(probe_study(job, base_training_config(job), job_key(overrides), name, memo))
    selection_s = float(config.budget_policy.selection_share) * budget
    plan = SweepPlan(budget_s=budget, start=start, selection_s=selection_s, studies=entries)
    plan.probe_s = round(time.time() - start, 1)
    plan.allot()
    runnable = [s for s in entries if s.skip is None]
    if not runnable:
        reasons = "; ".join(f"{s.name}: {s.skip}" for s in entries)
        raise ConfigError(f"budget={config.budget}: no study can run one trial ({reasons})")
    for s in entries:
        log.info("budget: %s: %s", s.name, s.skip or f"≈ {s.allotted_s:.0f} s")
    return plan


def sequential(config: DictConfig) -> bool:
    """Whether the sweep's studies run one after the other (Hydra's basic launcher) and so share its budget;
    a SLURM launcher runs them side by side, each in its own allocation."""
    return str(config.hydra.launcher._target_).endswith(".BasicLauncher")


class BudgetPlanCallback(Callback):
    """Hydra callback: before a ``-m`` sweep's first study, probe every job and write the budget plan.

    A sweep whose budget fits no study stops here with one line (exit 2), before any trial.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not sequential(config):
            log.info(
                "budget: the studies run side by side (%s): each probes itself and gets the budget less "
                "the selection share",
                config.hydra.launcher._target_,
            )
            return
        try:
            plan = plan_sweep(config)
        except AttentuneError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        if plan is not None:
            sweep_dir = Path(config.hydra.sweep.dir)
            sweep_dir.mkdir(parents=True, exist_ok=True)
            plan.save(sweep_dir / PLAN_FILE)


@dataclass
class Claim:
    """What a study may spend: its time budget (None: no limit), its entry's estimates, or why it is skipped."""

    time_budget_s: float | None
    first_round_s: float = 0.0
    finish_s: float = 0.0
    skip: str | None = None
    plan_path: Path | None = None
    key: str = ""


def _planned_sweep() -> tuple[Path, str] | None:
    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    path = Path(hc.sweep.dir) / PLAN_FILE
    return (path, job_key(list(hc.overrides.task))) if path.exists() else None


def claim_budget(cfg: DictConfig, base: dict) -> Claim:
    """At a study's start: its share of what is left of a planned sweep, or (alone) the whole ``budget``."""
    planned = _planned_sweep()
    if planned is not None:
        path, key = planned
        plan = SweepPlan.load(path)
        entry = plan.entry(key)
        if entry is not None:
            if entry.skip is None or entry.skip.startswith(NO_TIME):
                plan.allot(first=entry)  # what is really left now, among this study and the ones after it
            entry.started = time.time()
            plan.save(path)
            return Claim(
                entry.allotted_s if entry.skip is None else 0.0,
                entry.first_round_s,
                entry.cost.get("finish_s", 0.0),
                entry.skip,
                path,
                key,
            )
        log.warning("budget: this study is not in the sweep's plan %s; it runs on its own budget", path)
    explicit = parse_budget(cfg.get("time_budget_s"), "time_budget_s")
    if explicit is not None:  # the user's own budget for this study: taken as it is
        return Claim(explicit)
    budget = parse_budget(cfg.get("budget"))
    if budget is None:
        return Claim(None)
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:  # side by side (SLURM jobs)
        budget *= 1 - float(cfg.budget_policy.selection_share)
    entry = probe_study(cfg, base, "", cfg.study_name)
    if entry.skip:
        raise ConfigError(f"{cfg.study_name}: {entry.skip.removeprefix('skipped: ')}")
    if entry.trial_s > budget:
        raise ConfigError(
            f"budget={cfg.budget}: one trial of {cfg.study_name} needs ≈ {entry.trial_s:.0f} s, "
            f"more than {budget:.0f} s"
        )
    return Claim(budget, entry.first_round_s, entry.cost.get("finish_s", 0.0))  # alone: all of it


def release_budget(claim: Claim) -> None:
    """Mark the study finished in the plan (later studies share what it left)."""
    if claim.plan_path is None:
        return
    plan = SweepPlan.load(claim.plan_path)
    entry = plan.entry(claim.key)
    if entry is not None:
        entry.finished = time.time()
        plan.save(claim.plan_path)
