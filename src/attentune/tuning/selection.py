"""Model selection over a finished sweep: leaderboard, multi-seed re-runs of the top-k, the winner in best/."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, open_dict

from attentune.errors import ConfigError
from attentune.reports.leaderboard import write_leaderboard
from attentune.reports.pages import sweep_report
from attentune.reports.plots import plot_accuracy_latency, plot_learning_curves
from attentune.reports.summary import next_steps
from attentune.reports.wandb_sweep import log_sweep
from attentune.tasks.cli import run_task
from attentune.tasks.task import task_of
from attentune.tasks.tracking import tracking_group
from attentune.tasks.train import write_json
from attentune.tuning.cluster import trial_resources, whole_trial
from attentune.tuning.ensemble import describe, sweep_candidates, sweep_ensemble, write_best_ensemble
from attentune.tuning.planner import priors
from attentune.tuning.planner.cost import parse_budget
from attentune.tuning.planner.plan import PLAN_FILE, SweepPlan
from attentune.tuning.reference import references
from attentune.tuning.results import best_first, test_columns, test_of
from attentune.tuning.seeds import fit_jobs, reused_trials, run_jobs, seed_jobs, seed_table

log = logging.getLogger(__name__)


def load_studies(sweep_dir: Path) -> list[dict[str, Any]]:
    studies = []
    for summary_file in sorted(sweep_dir.glob("*/study.json")):
        run_dir = summary_file.parent
        summary = json.loads(summary_file.read_text())
        # trial ids are text: "54364293" must not become 54364293.0
        trials = pd.read_csv(run_dir / "trials.csv", dtype={"default": "boolean", "trial_id": str})
        trials["family"] = summary["family"]
        trials["study"] = summary["study"]
        setup = json.loads((run_dir / "base_config.json").read_text())
        studies.append({**summary, "dir": run_dir, "trials": trials, **setup})
    if not studies:
        raise ConfigError(f"sweep_dir: no finished studies (*/study.json) under {sweep_dir}")
    return studies


def _row(
    study: str, kind: str, trial: pd.Series, metric: str, t: pd.DataFrame | None, columns: list[str], note: str = ""
) -> dict:
    return {
        "study": study,
        "row": kind,
        f"best {metric}": trial.get(metric, math.nan),
        **{column: trial.get(column, math.nan) for column in columns},
        "params": trial.get("num_params", math.nan),
        "latency ms (b1)": trial.get("latency_ms/b1", math.nan),
        "latency ms (b64)": trial.get("latency_ms/b64", math.nan),
        "train s": trial.get("train_seconds", math.nan),
        "trials": len(t) if t is not None else math.nan,
        "failed": int((t["status"] == "ERROR").sum()) if t is not None else math.nan,
        "note": note,
    }


def family_table(studies: list[dict], metric: str, mode: str = "max", references: list[dict] = ()) -> pd.DataFrame:
    """The leaderboard: per study its best trial that finished training (so it has test metrics; a study where
    none finished shows its best stopped trial) and its default configuration's trial, each reference, ranked
    by ``metric``; then the studies the budget skipped or whose job failed, with the reason."""
    rows, skipped = [], []
    score = test_of(metric)
    columns = test_columns(
        [c for s in studies for c in s["trials"].columns] + [k for r in references for k in r], metric
    )
    for s in studies:
        t = s["trials"]
        if s.get("skipped") or s.get("error"):  # the budget could not fit it, or its job failed (SLURM)
            kind, why = ("failed", s["error"]) if s.get("error") else ("skipped", s["skipped"])
            skipped.append(_row(s["study"], kind, pd.Series(dtype=object), metric, t, columns, why))
            continue
        done = t[t["status"] != "ERROR"].dropna(subset=[metric])
        finished = done.dropna(subset=[score]) if score in done else done.iloc[0:0]
        ranked = finished if len(finished) else done  # trials.csv is sorted best first
        best = ranked.iloc[0] if len(ranked) else pd.Series(dtype=object)
        is_default = bool(len(ranked)) and _flag(best.get("default"))
        why = "" if len(ranked) else _empty_note(s, t)
        rows.append(_row(s["study"], "best = default" if is_default else "best", best, metric, t, columns, why))
        defaults = t[t["default"].fillna(False).astype(bool)] if "default" in t else t.iloc[0:0]
        if len(defaults) and not is_default:
            note = _status_note(defaults.iloc[0])
            rows.append(_row(s["study"], "default", defaults.iloc[0], metric, t, columns, note))
    for ref in references:
        rows.append(_row(ref["study"], "reference", pd.Series(ref), metric, None, columns, ref["model"]))
    table = best_first(pd.DataFrame(rows), f"best {metric}", mode) if rows else pd.DataFrame(rows)
    table = pd.concat([table, pd.DataFrame(skipped)], ignore_index=True)
    return table.astype({"trials": "Int64", "failed": "Int64"})  # counts, blank for the reference


def _empty_note(study: dict, trials: pd.DataFrame) -> str:
    """Why a study that ran has no trial to show, so that no family is silently empty."""
    budget = study.get("time_budget_s")
    within = f" within its {budget:.0f} s" if budget else ""
    if len(trials):
        return f"no trial validated{within}: {len(trials)} started, none reported a score"
    return f"no trial reported{within} (a first trial needs its worker, data, tokenizer and one round)"


def _flag(value: Any) -> bool:
    """A boolean cell of a table read from CSV: numpy's bool, pandas' NA (no value) or nothing."""
    return value is not None and not pd.isna(value) and bool(value)


def _status_note(trial: pd.Series) -> str:
    if trial.get("status") == "ERROR":
        return f"failed: {trial.get('error', '')}"
    return "" if trial.get("status") == "TERMINATED" else "stopped by the scheduler before testing"


def verdict(
    families: pd.DataFrame,
    winner_test: float | None,
    winner: str | None,
    score: str,
    default_of: str | None = None,
    mode: str = "max",
) -> list[str]:
    """Plain sentences for the report when the winner's test score is below the reference or a default row.

    ``default_of``: the study whose default configuration the winner is (its seeds and its one trial then
    differ only by seed noise, and the report says so rather than calling it below a default).
    """
    notes, below = [], "below" if mode == "max" else "worse than"
    if winner_test is None or math.isnan(winner_test):
        return notes
    for kind, label in (("reference", "the reference"), ("default", "a default configuration")):
        rows = families[families["row"].isin([kind, "best = default"] if kind == "default" else [kind])]
        rows = best_first(rows.dropna(subset=[score]), score, mode)  # ``score`` is better in the monitor's mode
        if len(rows) and (rows[score].iloc[0] > winner_test if mode == "max" else rows[score].iloc[0] < winner_test):
            top = rows.iloc[0]
            if kind == "default" and top["study"] == default_of:
                notes.append(
                    f"The winner ({winner}) is {default_of}'s default configuration; its one trial scored {score} "
                    f"{top[score]:.4f}."
                )
                continue
            what = top["note"] if kind == "reference" else f"{top['study']}'s default configuration"
            notes.append(
                f"The winner ({winner}) scores {score} {winner_test:.4f}, {below} {label} ({what}) at {top[score]:.4f}."
            )
    return notes


def learning_curves(studies: list[dict], metric: str) -> dict[str, pd.DataFrame]:
    curves = {}
    for s in studies:
        done = s["trials"][s["trials"]["status"] != "ERROR"]
        if len(done) and (Path(done.iloc[0]["trial_dir"]) / "progress.csv").exists():
            progress = pd.read_csv(Path(done.iloc[0]["trial_dir"]) / "progress.csv")
            epochs = progress.dropna(subset=["epoch"]) if "epoch" in progress else progress.iloc[0:0]
            if len(epochs):
                curves[s["study"]] = epochs[["epoch", f"{metric}_epoch"]].rename(columns={f"{metric}_epoch": metric})
    return curves


def planned_vs_used(plan: SweepPlan) -> str:
    """One sentence: each study's planned and used seconds (the plan's promise, kept or not)."""
    parts = []
    for s in plan.studies:
        used = "skipped" if s.skip else "not run" if s.actual_s is None else f"{s.actual_s:.0f}"
        parts.append(f"{s.name} {s.allotted_s:.0f} / {used}")
    return f"Budget, planned / used seconds: {', '.join(parts)} (probing {plan.probe_s:.0f})."


def _winner_val(seeds: pd.DataFrame, winner_trial: pd.Series | None, metric: str) -> float:
    if len(seeds):
        return float(seeds.iloc[0][f"{metric} mean"])
    return float(winner_trial.get(metric, math.nan)) if winner_trial is not None else math.nan


def _best_rival(
    refs: list[dict], ensemble: dict | None, metric: str, mode: str, winner_val: float
) -> tuple[str, dict[str, float], dict] | None:
    """The reference or the ensemble when one of them beats the winner (and the other) on validation."""
    rivals = [("reference", {"reference": 1.0}, {k: refs[0][k] for k in (metric, test_of(metric), "test/f1_macro")})]
    if ensemble is not None:
        rivals.append(("ensemble", ensemble["weights"], ensemble["scores"]))
    sign = 1 if mode == "max" else -1
    best = max(rivals, key=lambda r: sign * r[2][metric])
    beaten = math.isnan(winner_val) or sign * best[2][metric] > sign * winner_val
    return best if beaten else None


def add_ensemble_row(families: pd.DataFrame, ensemble: dict, metric: str, mode: str) -> pd.DataFrame:
    """The ensemble as a leaderboard row, ranked among the studies by its validation score."""
    scores = pd.Series({**ensemble["scores"], metric: ensemble["scores"][metric]})
    columns = [c for c in families.columns if c.startswith("test/")]
    row = _row("ensemble", "ensemble", scores, metric, None, columns, describe(ensemble["weights"]))
    ranked = families[~families["row"].isin(["skipped", "failed"])]
    rest = families[families["row"].isin(["skipped", "failed"])]
    ranked = best_first(pd.concat([ranked, pd.DataFrame([row])], ignore_index=True), f"best {metric}", mode)
    return pd.concat([ranked, rest], ignore_index=True).astype({"trials": "Int64", "failed": "Int64"})


def copy_winner(run_dir: Path, best_dir: Path) -> None:
    if best_dir.exists():  # an earlier selection's winner (perhaps an ensemble) goes first
        shutil.rmtree(best_dir)
    best_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "tokenizer.json", "metrics.json"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, best_dir / name)
    (best_dir / "checkpoints").mkdir(exist_ok=True)
    shutil.copy2(run_dir / "checkpoints" / "best.ckpt", best_dir / "checkpoints" / "best.ckpt")


def teach_priors(cfg: DictConfig, plan: SweepPlan) -> None:
    """Append what each finished family scored against the reference to the user's priors (once per sweep)."""
    task = str((cfg.get("task") or {}).get("name", "classification"))
    data = str(cfg.data.get("name") or cfg.data.get("train_path") or cfg.data.get("path") or "")
    user_dir = Path(str(cfg.paths.cache_dir))
    learned = priors.record(user_dir, plan.observations(data, task))
    if learned:
        log.info("priors: this sweep's %d families added to %s", learned, user_dir / priors.USER_FILE)


def select(cfg: DictConfig, deadline: float | None = None) -> dict[str, Any]:
    """Write leaderboard.{md,csv}, summary.json, the PNG plots and best/ into ``cfg.sweep_dir``.

    ``deadline``: when the sweep's budget ends (its plan); without one, ``cfg.budget`` from now. Seed re-runs
    that would not fit are left out, best-ranked configurations first kept, and the report says so.
    """
    out = Path(cfg.sweep_dir)
    studies = load_studies(out)
    monitors = {(s["metric"], s["mode"]) for s in studies}  # each study's monitor, from its study.json
    if len(monitors) > 1:
        raise ConfigError(f"sweep_dir: the studies monitor different metrics {sorted(monitors)}; cannot rank them")
    metric, mode = monitors.pop()
    refs = references(studies, out)
    families = family_table(studies, metric, mode, refs)
    per_study = int(cfg.get("keep_checkpoints", 3))  # the trials that keep a checkpoint
    candidates = sweep_candidates(studies, refs, metric, mode, per_study) if metric == "val/acc" else []
    ensemble = sweep_ensemble(candidates)
    if ensemble is not None:
        families = add_ensemble_row(families, ensemble, metric, mode)
    if deadline is None and parse_budget(cfg.get("budget")) is not None:
        deadline = time.time() + parse_budget(cfg.budget)
    jobs, budget_note = [], ""
    if cfg.selection.seeds:
        default = trial_resources(cfg)
        # a study's CPUs (a SLURM job's, say) may be more than this machine's Ray instance has
        local = cfg.ray.address in (None, "local") and cfg.ray.get("num_cpus")
        jobs = seed_jobs(studies, metric, mode, cfg.selection, default, float(cfg.ray.num_cpus) if local else math.inf)
        seconds_left = None if deadline is None else deadline - time.time()
        jobs, budget_note = fit_jobs(jobs, seconds_left, cfg.max_concurrent * max(whole_trial(default)["cpu"], 1.0))
    runs = run_jobs(jobs, metric, mode, cfg) if jobs else pd.DataFrame()
    if len(runs):
        runs = pd.concat([runs, reused_trials(jobs, studies, metric)], ignore_index=True)
    seeds = seed_table(runs, metric, mode) if len(runs) else pd.DataFrame()

    trials = pd.concat([s["trials"] for s in studies], ignore_index=True)
    x = cfg.selection.pareto_x
    # float: a study without trials (its empty trials.csv) would leave these columns of dtype object
    score = test_of(metric)
    columns = [x, score, "num_params"]
    plotted = pd.DataFrame()
    if all(c in trials.columns for c in columns):  # none when no trial got as far as its test (a deadline, load)
        plotted = trials.dropna(subset=columns).astype(dict.fromkeys(columns, float))
    if len(plotted):
        plot_accuracy_latency(plotted, x, score, out / "accuracy_vs_latency.png")
    curves = learning_curves(studies, metric)
    if curves:
        plot_learning_curves(curves, metric, out / "learning_curves.png")

    winner, winner_test, winner_trial = None, None, None
    if len(seeds):  # the winner: best mean over seeds; its best seed's checkpoint
        top = seeds.iloc[0]
        winner_runs = runs[(runs["study"] == top["study"]) & (runs["trial_id"] == top["trial"])]
        winner_dir = Path(best_first(winner_runs, metric, mode).iloc[0]["trial_dir"])
        winner, winner_test = f"{top['study']} trial {top['trial']}, mean of {top['seeds']} seeds", top[f"{score} mean"]
        winner_trial = trials[(trials["study"] == top["study"]) & (trials["trial_id"] == top["trial"])].iloc[0]
    else:
        finished = best_first(trials[trials["status"] == "TERMINATED"], metric, mode)
        winner_dir = Path(finished.iloc[0]["trial_dir"]) if len(finished) else None
        if len(finished):
            winner_trial = finished.iloc[0]
            winner = f"{winner_trial['study']} trial {winner_trial['trial_id']}"
            winner_test = float(winner_trial.get(score, math.nan))
    default_of = winner_trial["study"] if winner_trial is not None and _flag(winner_trial.get("default")) else None
    winner_val = _winner_val(seeds, winner_trial, metric)
    has_reference = any(c.kind == "reference" for c in candidates)
    rival = _best_rival(refs, ensemble, metric, mode, winner_val) if has_reference else None
    if rival is not None:  # the reference or the ensemble is best on validation: it is the winner
        kind, weights, scores = rival
        what = "the reference" if kind == "reference" else f"the ensemble ({describe(weights)})"
        winner, winner_test, default_of = f"{what}, {metric} {scores[metric]:.4f}", scores[score], None
        base = next(s["base"] for s in studies if s["base"] is not None)  # a failed study (SLURM) has none
        write_best_ensemble(out / "best", candidates, weights, base, refs[0]["label_names"], scores)
    elif winner_dir is not None and (winner_dir / "checkpoints" / "best.ckpt").exists():
        copy_winner(winner_dir, out / "best")
    notes = verdict(families, winner_test, winner, score, default_of, mode) + ([budget_note] if budget_note else [])
    plan_file = out / PLAN_FILE
    if plan_file.exists():
        plan = SweepPlan.load(plan_file)
        notes.append(planned_vs_used(plan))
        teach_priors(cfg, plan)
    write_leaderboard(
        families, seeds, out, [f"Winner: {winner}, {score} {winner_test:.4f}." if winner else "No winner."] + notes
    )
    summary = {
        "metric": metric,
        "studies": json.loads(families.to_json(orient="records")),  # NaN and NA as null
        "reference": refs,
        "seed_reruns": json.loads(seeds.to_json(orient="records")) if len(seeds) else [],
        "winner": str(out / "best") if (out / "best").exists() else None,
        "winner_name": winner,
        "winner_test": {score: winner_test},
        "winner_metrics": json.loads((out / "best" / "metrics.json").read_text())
        if (out / "best" / "metrics.json").exists()
        else None,
        "notes": notes,
        "budget": json.loads(plan_file.read_text()) if plan_file.exists() else None,
    }
    summary["ensemble"] = ensemble
    write_json(out / "summary.json", summary)
    wandb = (cfg.get("logger") or {}).get("wandb")
    if wandb is not None:  # the trials logged to W&B: the sweep's leaderboard joins them
        log_sweep(out, tracking_group(cfg), str(wandb.get("project") or "attentune"), families, summary)
    print((out / "leaderboard.md").read_text())
    print(f"report: {sweep_report(out)}")
    if (out / "best").exists():
        print(next_steps(out / "best", task_of(cfg).name, "the sweep's winner"))
    return summary


def select_after_sweep(config: DictConfig) -> None:
    """Model selection once all studies of a ``-m`` sweep have finished (``tuning.hooks.SelectionCallback``).

    Hydra turns a callback's exception into a warning; a failed selection must fail the command instead.
    """
    with open_dict(config):
        config.sweep_dir = config.hydra.sweep.dir
    plan_file = Path(config.sweep_dir) / PLAN_FILE
    deadline = SweepPlan.load(plan_file).deadline if plan_file.exists() else None
    budget = parse_budget(config.get("budget"))
    if deadline is None and budget is not None:  # studies ran side by side: selection has its share from now
        deadline = time.time() + float(config.budget_policy.selection_share) * budget
    try:
        summary = run_task(select, config, deadline)  # user errors: one line, exit 2
    except Exception:
        traceback.print_exc()
        raise SystemExit(1) from None
    failed = [s for s in summary["studies"] if s["row"] == "failed"]
    if failed:  # the leaderboard is written; the command still says that the sweep did not all run
        print(
            f"error: {len(failed)} studies failed: " + "; ".join(f"{s['study']}: {s['note']}" for s in failed),
            file=sys.stderr,
        )
        raise SystemExit(1)
