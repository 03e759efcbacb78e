"""Planning a ``-m`` sweep before its first study (a Hydra callback): probe, priors, allocation, the printed plan.

Every job of the sweep is probed on its data (its default trial's cost on this machine), the reference row is
computed (seconds), each family's chance to win comes from the priors, and the budget is allotted
(``plan.SweepPlan.allot``). The plan is printed as one table before anything trains, written to
``<sweep dir>/budget_plan.json``, and the sweep's families are reordered so that the most likely winners run
first. Each study then claims its share (``attentune.tuning.claim``). A study outside a planned sweep
(``tune.py model=mha``) probes itself and gets the whole ``budget``.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path

from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from attentune.errors import AttentuneError, ConfigError
from attentune.tasks.prepare import RunData
from attentune.tasks.runconfig import apply_example_budget
from attentune.tuning.config import base_training_config
from attentune.tuning.memo import MemoizedRunData
from attentune.tuning.planner import priors
from attentune.tuning.planner.cost import (
    TrialCost,
    auto_budget,
    contention,
    is_auto,
    max_useful_seconds,
    parse_budget,
    too_small,
)
from attentune.tuning.planner.plan import PLAN_FILE, StudyBudget, SweepPlan
from attentune.tuning.planner.probe import probe_run_cost
from attentune.tuning.reference import reference_of
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
    family = OmegaConf.select(cfg, "hydra.runtime.choices.model") or cfg.family  # a job composed by the planner
    entry = StudyBudget(key=key, name=name, family=str(family), cost=cost.as_dict())
    entry.skip = too_small(cost, trial)
    if entry.skip:
        entry.skip = f"skipped: {entry.skip}"
        return entry
    slower = contention(
        len(os.sched_getaffinity(0)), float(cfg.ray.num_cpus), int(cfg.max_concurrent), float(cfg.resources.cpu)
    )  # trials side by side on fewer cores than Ray was told it has
    entry.cost["contention"] = slower
    trial_cost = TrialCost.of(cost, trial, float(cfg.budget_policy.safety) * slower)
    entry.trial_s, entry.first_round_s = trial_cost.full_s, trial_cost.first_round_s
    entry.cost |= {"finish_s": trial_cost.finish_s, "rounds": trial_cost.rounds}
    entry.max_useful_s = max_useful_seconds(trial_cost.full_s, int(cfg.num_samples), int(cfg.max_concurrent))
    if cfg.get("time_budget_s") is not None:
        entry.fixed_s = float(cfg.time_budget_s)
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


def chances(plan: SweepPlan, observations: list[dict], n_train: int, words: float) -> None:
    """Each study's expected gain and chance to win: the priors for those still to run, what a finished study
    scored on validation against the reference's validation score for the others."""
    ref = plan.reference.get("val")
    gains = {}
    for s in plan.studies:
        if s.observed is not None and ref is not None:
            gains[s.key] = priors.Gain(100 * (s.observed - ref), 0.5, -1)
        else:
            gains[s.key] = priors.expected_gain(observations, s.family, n_train, words)
    for s, p in zip(plan.studies, priors.win_chances(gains).values(), strict=True):
        s.gain, s.spread, s.win_chance = gains[s.key].mean, gains[s.key].spread, round(p, 4)


def plan_sweep(config: DictConfig) -> SweepPlan | None:
    """Probe every job of the sweep, compute the reference, and share ``config.budget``; None without a budget."""
    auto = is_auto(config.get("budget"))
    budget = parse_budget(config.get("budget"))
    if budget is None and not auto:
        return None
    start = time.time()
    entries, bases = [], []
    jobs = sweep_jobs(config)
    memo = MemoizedRunData()  # jobs on the same data load it once; dropped with the plan
    varying = [i for i in range(len(jobs[0])) if len({job[i] for job in jobs}) > 1] if jobs else []
    for overrides in jobs:
        job = compose(config_name=config.hydra.job.config_name, overrides=overrides, return_hydra_config=True)
        use_task_search(job)  # the study searches (and its default trial is) its task's space
        name = " ".join(overrides[i] for i in varying) or " ".join(overrides) or "default"
        base = base_training_config(job)
        bases.append(base)
        entries.append(probe_study(job, base, job_key(overrides), name, memo))
    share = float(config.budget_policy.selection_share)
    plan = SweepPlan(budget_s=budget or 0.0, start=start, selection_s=share * (budget or 0.0), studies=entries)
    first = OmegaConf.create(bases[0])
    task = str((first.get("task") or {}).get("name", "classification"))
    dataset = memo.dataset(first)
    texts = dataset.train.texts if hasattr(dataset.train, "texts") else []
    n_train, words = len(dataset.train), priors.mean_words(list(texts)) if texts else 0.0
    plan.reference = {"n_train": n_train, "words": round(words, 1)}
    chances(plan, priors.load_observations(Path(str(first.paths.cache_dir)), task), n_train, words)
    plan.probe_s = round(time.time() - start, 1)
    if auto:  # what one trial of every family and some search need on this machine
        plan.budget_s = round(auto_budget(plan.fits_all_s(share)[0], share))
        plan.selection_s, plan.auto = share * plan.budget_s, True
    plan.allot()
    if not [s for s in entries if s.skip is None]:
        reasons = "; ".join(f"{s.name}: {s.skip}" for s in entries)
        smallest = min((s.floor() for s in entries if s.trial_s), default=None)
        fits = f" (the smallest that fits one: ≈ {smallest + plan.probe_s:.0f} s)" if smallest else ""
        raise ConfigError(f"budget={config.budget}: no study can run one trial{fits}: {reasons}")
    # the reference row (seconds; selection ranks it too): finished studies' chances are weighed against it
    plan.reference["val"] = reference_of(bases[0], Path(config.hydra.sweep.dir)).get(config.monitor.metric)
    return plan


def plan_table(plan: SweepPlan, selection_share: float) -> str:
    """The plan as a person reads it, before anything trains."""
    how = " = budget=auto on this machine" if plan.auto else ""
    lines = [
        f"Budget plan ({plan.budget_s:.0f} s{how}; probing took {plan.probe_s:.0f} s; reference "
        f"val {plan.reference.get('val', float('nan')):.4f} on {plan.reference.get('n_train')} texts of "
        f"{plan.reference.get('words')} words):",
        "| study | chance to win | expected gain (pts) | one trial s | allotted s | note |",
        "|---|---|---|---|---|---|",
    ]
    for s in plan.by_chance(plan.studies):
        trial = f"{s.floor():.0f}" if s.trial_s else "–"
        allotted = f"{s.allotted_s:.0f}" if s.skip is None else "0"
        gain = f"{s.gain:+.1f} ± {s.spread:.1f}"
        lines.append(f"| {s.name} | {s.win_chance:.0%} | {gain} | {trial} | {allotted} | {s.skip or ''} |")
    need, with_seeds = plan.fits_all_s(selection_share)
    lines.append(
        f"Seed re-runs: {plan.reserve_s:.0f} s (of {plan.selection_s:.0f} s wanted). One trial of every family "
        f"needs budget ≥ {need:.0f} s; with the seed re-runs ≥ {with_seeds:.0f} s."
    )
    return "\n".join(lines)


def run_in_plan_order(config: DictConfig, plan: SweepPlan) -> None:
    """Reorder the values of the sweep's ``model`` override so that the families most likely to win run first
    (Hydra's basic sweeper reads the overrides after this callback)."""
    rank = {s.family: i for i, s in enumerate(plan.by_chance([s for s in plan.studies if s.skip is None]))}

    def reorder(values: list[str]) -> list[str]:
        return sorted(values, key=lambda v: rank.get(v.strip(), len(rank)))

    with read_write(config), open_dict(config):
        params = config.hydra.sweeper.get("params") or {}
        if "model" in params:
            params["model"] = ",".join(reorder(str(params["model"]).split(",")))
        task = list(config.hydra.overrides.task)
        for i, item in enumerate(task):
            key, _, value = item.partition("=")
            if key == "model" and "," in value:
                task[i] = "model=" + ",".join(reorder(value.split(",")))
        config.hydra.overrides.task = task


def sequential(config: DictConfig) -> bool:
    """Whether the sweep's studies run one after the other (Hydra's basic launcher) and so share its budget;
    a SLURM launcher runs them side by side, each in its own allocation."""
    return str(config.hydra.launcher._target_).endswith(".BasicLauncher")


def plan_before_sweep(config: DictConfig) -> None:
    """Before a ``-m`` sweep's first study (``tuning.hooks.BudgetPlanCallback``): probe every job, print and write
    the budget plan. A sweep whose budget fits no study stops here with one line (exit 2), before any trial.
    """
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
    except Exception:  # Hydra would turn it into a warning and run the sweep without a plan
        traceback.print_exc()
        raise SystemExit(1) from None
    if plan is not None:
        print(plan_table(plan, float(config.budget_policy.selection_share)), flush=True)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        plan.save(sweep_dir / PLAN_FILE)
        run_in_plan_order(config, plan)
