"""A study's side of the sweep's budget plan: claim its share when it starts, report back when it ends.

The plan itself (probing, priors, allocation) is ``attentune.tuning.planner``; a study only reads it, asks it to
re-divide what is really left among itself and the studies still waiting, and records what it used and scored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from ray import tune

from attentune.errors import ConfigError
from attentune.tuning.deadline import read_deadline, write_deadline
from attentune.tuning.planner import priors
from attentune.tuning.planner.cost import auto_budget, is_auto, parse_budget
from attentune.tuning.planner.plan import NO_TIME, PLAN_FILE, SweepPlan
from attentune.tuning.planner.sweep import chances, job_key, probe_study
from attentune.tuning.space import same_point

log = logging.getLogger(__name__)


@dataclass
class Claim:
    """What a study may spend: its time budget (None: no limit), its entry's estimates, or why it is skipped."""

    time_budget_s: float | None
    first_round_s: float = 0.0
    finish_s: float = 0.0
    skip: str | None = None
    plan_path: Path | None = None
    key: str = ""
    reference: float | None = None  # the reference row's validation score, when the plan has it


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
                task = str((cfg.get("task") or {}).get("name", "classification"))
                observations = priors.load_observations(Path(str(cfg.paths.cache_dir)), task)
                chances(plan, observations, plan.reference.get("n_train", 0), plan.reference.get("words", 0.0))
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
                plan.reference.get("val"),
            )
        log.warning("budget: this study is not in the sweep's plan %s; it runs on its own budget", path)
    explicit = parse_budget(cfg.get("time_budget_s"), "time_budget_s")
    if explicit is not None:  # the user's own budget for this study: taken as it is
        return Claim(explicit)
    budget = parse_budget(cfg.get("budget"))
    if budget is None and not is_auto(cfg.get("budget")):
        return Claim(None)
    share = float(cfg.budget_policy.selection_share)
    side_by_side = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN  # (SLURM jobs)
    entry = probe_study(cfg, base, "", cfg.study_name)
    if entry.skip:
        raise ConfigError(f"{cfg.study_name}: {entry.skip.removeprefix('skipped: ')}")
    if budget is None:  # budget=auto: what this study's first trial and some search need here
        budget = auto_budget(entry.floor(), share)
        log.info("budget=auto: %.0f s for %s on this machine", budget, cfg.study_name)
    if side_by_side:
        budget *= 1 - share
    if entry.trial_s > budget:
        raise ConfigError(
            f"budget={cfg.budget}: one trial of {cfg.study_name} needs ≈ {entry.trial_s:.0f} s, "
            f"more than {budget:.0f} s"
        )
    return Claim(budget, entry.first_round_s, entry.cost.get("finish_s", 0.0))  # alone: all of it


def release_budget(claim: Claim, best: float | None = None) -> None:
    """Mark the study finished in the plan with its best validation score (later studies share what it left,
    and their chances to win are weighed against what it scored)."""
    if claim.plan_path is None:
        return
    plan = SweepPlan.load(claim.plan_path)
    entry = plan.entry(claim.key)
    if entry is not None:
        entry.finished = time.time()
        entry.observed = best
        plan.save(claim.plan_path)


class YieldWhenBehind(tune.Callback):
    """A study whose first trial trained to the end scores far below the reference gives back half of its time left.

    ``behind`` (points of the monitored score, ``budget_policy.behind_points``): the study's deadline moves to
    halfway between now and the old one, once; no new trial starts after it, and the next study's claim shares
    the time this one gave back. Its running trials keep the deadline they started with.
    """

    def __init__(
        self, run_dir: Path, reference: float, metric: str, mode: str, behind: float, default: dict | None = None
    ) -> None:
        self.run_dir, self.reference, self.metric, self.behind = run_dir, reference, metric, behind
        self.sign = 1.0 if mode == "max" else -1.0
        self.default = default  # the family's default configuration: the trial that speaks for the family
        self.done = False

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        score = result.get(self.metric)
        if self.done or score is None or not result.get("final"):  # a trial a scheduler stopped early says little
            return
        if self.default is not None and not same_point(trial.config or {}, self.default):
            return  # a sampled configuration that failed to learn says little about the family either
        self.done = True
        gap = 100 * self.sign * (self.reference - float(score))
        deadline = read_deadline(self.run_dir)
        if gap > self.behind and deadline is not None and deadline["deadline"] > time.time():
            now = time.time()
            write_deadline(self.run_dir, **{**deadline, "deadline": now + (deadline["deadline"] - now) / 2})
            log.warning(
                "budget: the first trial scored %s %.4f, %.1f points below the reference: this study gives back "
                "half of its %.0f s left",
                self.metric,
                float(score),
                gap,
                deadline["deadline"] - now,
            )
