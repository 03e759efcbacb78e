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
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from ray import tune
from ray.tune import PlacementGroupFactory

from attentune.errors import ConfigError
from attentune.reports.leaderboard import write_leaderboard
from attentune.reports.plots import plot_accuracy_latency, plot_learning_curves
from attentune.reports.stats import mean_ci95
from attentune.tasks.cli import run_task
from attentune.tasks.instantiate import instantiate
from attentune.tasks.task import task_of
from attentune.tasks.train import write_json
from attentune.tuning.budget import PLAN_FILE, RAY_START_S, SweepPlan, parse_budget
from attentune.tuning.cluster import (
    concurrent_trials,
    placement,
    ray_session,
    trial_resources,
    whole_trial,
    workers_of,
)
from attentune.tuning.results import best_first, test_columns, test_of, trial_table
from attentune.tuning.trainable import run_job, trainable

SEEDS_DIR = "seeds"  # the multi-seed re-runs, a Ray Tune experiment under the sweep directory
REFERENCE_FILE = "reference.json"

log = logging.getLogger(__name__)


def load_studies(sweep_dir: Path) -> list[dict[str, Any]]:
    studies = []
    for summary_file in sorted(sweep_dir.glob("*/study.json")):
        run_dir = summary_file.parent
        summary = json.loads(summary_file.read_text())
        trials = pd.read_csv(run_dir / "trials.csv", dtype={"default": "boolean"})
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
        rows.append(_row(s["study"], "best = default" if is_default else "best", best, metric, t, columns))
        defaults = t[t["default"].fillna(False).astype(bool)] if "default" in t else t.iloc[0:0]
        if len(defaults) and not is_default:
            note = _status_note(defaults.iloc[0])
            rows.append(_row(s["study"], "default", defaults.iloc[0], metric, t, columns, note))
    for ref in references:
        rows.append(_row(ref["study"], "reference", pd.Series(ref), metric, None, columns, ref["model"]))
    table = best_first(pd.DataFrame(rows), f"best {metric}", mode) if rows else pd.DataFrame(rows)
    table = pd.concat([table, pd.DataFrame(skipped)], ignore_index=True)
    return table.astype({"trials": "Int64", "failed": "Int64"})  # counts, blank for the reference


def _flag(value: Any) -> bool:
    """A boolean cell of a table read from CSV: numpy's bool, pandas' NA (no value) or nothing."""
    return value is not None and not pd.isna(value) and bool(value)


def _status_note(trial: pd.Series) -> str:
    if trial.get("status") == "ERROR":
        return f"failed: {trial.get('error', '')}"
    return "" if trial.get("status") == "TERMINATED" else "stopped by the scheduler before testing"


def references(studies: list[dict], out: Path) -> list[dict]:
    """The task's reference (classification: TF-IDF + linear SVM; QA: lexical overlap) on each distinct dataset of
    the sweep, cached in ``reference.json``."""
    cache_file = out / REFERENCE_FILE
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    refs = []
    for s in studies:
        if s["base"] is None:  # a study whose job failed before it wrote its training config
            continue
        data = OmegaConf.create(s["base"]).data  # interpolations (paths.cache_dir) resolve in the whole config
        key = json.dumps(OmegaConf.to_container(data, resolve=True), sort_keys=True)
        if key not in cache:
            dataset = instantiate(data, "data")
            task = task_of(OmegaConf.create(s["base"]))
            cache[key] = {"study": f"reference ({dataset.name})", **task.reference(dataset)}
            write_json(cache_file, cache)
        if cache[key] not in refs:
            refs.append(cache[key])
    return refs


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


def job_seconds(trial: pd.Series) -> float:
    """What a fresh re-run of a trial's configuration takes (with the trial's resources), from the trial's own
    wall time (all its rounds: a trial the deadline stopped early would have run longer)."""
    seconds = trial.get("time_total_s", math.nan)
    if seconds is None or math.isnan(float(seconds)):
        seconds = 1.2 * float(trial.get("train_seconds", 0.0) or 0.0) + 10.0
    return float(seconds) * (1.5 if trial.get("stopped_by_deadline") == 1 else 1.0)


def fit_jobs(jobs: list[dict], seconds_left: float | None, cpus: float) -> tuple[list[dict], str]:
    """The re-runs of the best-ranked configurations whose seeds fit ``seconds_left`` on ``cpus`` CPUs (whole
    configurations, best first), and a note on what did not fit."""
    if seconds_left is None:
        return jobs, ""
    ranks = sorted({j["rank"] for j in jobs})
    kept: list[dict] = []
    for rank in ranks:
        trial = kept + [j for j in jobs if j["rank"] == rank]
        work = sum(j["seconds"] * whole_trial(j["resources"])["cpu"] for j in trial)  # CPU-seconds
        makespan = RAY_START_S + max(max(j["seconds"] for j in trial), work / max(cpus, 1.0))
        if makespan > seconds_left:
            dropped = len(ranks) - ranks.index(rank)
            return kept, (
                f"seed re-runs: {dropped} of {len(ranks)} configurations left out, they need ≈ {makespan:.0f} s "
                f"and {max(0.0, seconds_left):.0f} s of the budget are left"
            )
        kept = trial
    return kept, ""


def seed_jobs(
    studies: list[dict],
    metric: str,
    mode: str,
    selection: DictConfig,
    resources: dict[str, float],
    max_cpus: float = math.inf,
) -> list[dict]:
    """The multi-seed re-runs of the top-k finished configurations across all studies, longest first.

    Each re-run gets its study's resources per trial (MiniLM's trials run alone on every CPU), at most
    ``max_cpus`` (the Ray instance that re-runs them), else ``resources``, so that it costs what its trial did.

    Every seed is a fresh run, the trial's own included: its result is the one that put it in the top-k
    (a biased estimate), and a paused, resumed or PBT-exploited trial is not a plain run of its config.
    ``selection.max_per_study`` caps the configurations taken from one study, so that the re-runs compare
    families rather than one family's neighbouring settings. The runs whose trial trained longest come
    first: a few long runs (MiniLM) then overlap the many short ones instead of running last, on their own.
    """
    candidates = pd.concat([s["trials"].assign(_study=i) for i, s in enumerate(studies)], ignore_index=True)
    candidates = best_first(candidates[candidates["status"] == "TERMINATED"].dropna(subset=[metric]), metric, mode)
    if selection.get("max_per_study"):
        candidates = candidates.groupby("_study", sort=False).head(selection.max_per_study)
    top = candidates.head(selection.top_k)
    top = top.assign(_rank=range(1, len(top) + 1))
    if "train_seconds" in top:
        top = top.sort_values("train_seconds", ascending=False, na_position="first", kind="stable")
    jobs = []
    for _, trial in top.iterrows():
        study = studies[int(trial["_study"])]
        own = dict(study.get("resources") or resources)
        own["cpu"] = min(own["cpu"], max_cpus)
        key = {"rank": int(trial["_rank"]), "study": study["study"], "trial_id": trial["trial_id"]}
        for seed in dict.fromkeys(selection.seeds):  # unique, in order
            params = {**json.loads(trial["params"]), "seed": seed}
            jobs.append(
                key
                | {"seed": seed, "base": study["base"], "params": params, "derived": study["derived"]}
                | {"seconds": job_seconds(trial), "resources": own}
            )
    return jobs


def _run_jobs(jobs: list[dict], metric: str, mode: str, cfg: DictConfig) -> pd.DataFrame:
    storage = Path(cfg.sweep_dir).resolve()
    largest = max((j["resources"] for j in jobs), key=lambda r: tuple(whole_trial(r).values()))
    ddp = any(workers_of(j["resources"]) > 1 for j in jobs)

    def resources(config: dict) -> PlacementGroupFactory:  # the job's own: its study's trials'
        return placement(jobs[config["job"]]["resources"])

    with ray_session(cfg.ray, largest):
        results = tune.Tuner(
            tune.with_resources(trainable(run_job, jobs=jobs, study_path=str(storage / SEEDS_DIR)), resources),
            param_space={"job": tune.grid_search(list(range(len(jobs))))},
            tune_config=tune.TuneConfig(
                metric=metric,
                mode=mode,
                max_concurrent_trials=min(concurrent_trials(cfg.max_concurrent, j["resources"]) for j in jobs),
                reuse_actors=cfg.reuse_actors and not ddp,
            ),
            run_config=tune.RunConfig(
                name=SEEDS_DIR,
                storage_path=str(storage),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # a resume state per run, not per round
                verbose=1,
            ),
        ).fit()
    runs = trial_table(results, metric, mode)
    runs["job"] = [json.loads(p)["job"] for p in runs["params"]]
    keys = [{k: j[k] for k in ("rank", "study", "trial_id", "seed")} | {"job": i} for i, j in enumerate(jobs)]
    return runs.merge(pd.DataFrame(keys), on="job", suffixes=("_run", ""))


def seed_table(runs: pd.DataFrame, metric: str, mode: str = "max") -> pd.DataFrame:
    rows, score = [], test_of(metric)
    for (_, study, trial_id), group in runs.groupby(["rank", "study", "trial_id"]):
        ok = group.dropna(subset=[metric, score])
        val_mean, val_ci = mean_ci95(ok[metric].tolist()) if len(ok) else (math.nan, math.nan)
        test_mean, test_ci = mean_ci95(ok[score].tolist()) if len(ok) else (math.nan, math.nan)
        rows.append(
            {
                "study": study,
                "trial": trial_id,
                "seeds": len(ok),
                f"{metric} mean": val_mean,
                f"{metric} ±95%": val_ci,
                f"{score} mean": test_mean,
                f"{score} ±95%": test_ci,
            }
        )
    return best_first(pd.DataFrame(rows), f"{metric} mean", mode).reset_index(drop=True)


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


def copy_winner(run_dir: Path, best_dir: Path) -> None:
    best_dir.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "tokenizer.json", "metrics.json"):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, best_dir / name)
    (best_dir / "checkpoints").mkdir(exist_ok=True)
    shutil.copy2(run_dir / "checkpoints" / "best.ckpt", best_dir / "checkpoints" / "best.ckpt")


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
    runs = _run_jobs(jobs, metric, mode, cfg) if jobs else pd.DataFrame()
    seeds = seed_table(runs, metric, mode) if len(runs) else pd.DataFrame()

    trials = pd.concat([s["trials"] for s in studies], ignore_index=True)
    x = cfg.selection.pareto_x
    # float: a study without trials (its empty trials.csv) would leave these columns of dtype object
    score = test_of(metric)
    plotted = trials.dropna(subset=[x, score, "num_params"]).astype({x: float, score: float, "num_params": float})
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
    if winner_dir is not None and (winner_dir / "checkpoints" / "best.ckpt").exists():
        copy_winner(winner_dir, out / "best")
    default_of = winner_trial["study"] if winner_trial is not None and _flag(winner_trial.get("default")) else None
    notes = verdict(families, winner_test, winner, score, default_of, mode) + ([budget_note] if budget_note else [])
    write_leaderboard(
        families, seeds, out, [f"Winner: {winner}, {score} {winner_test:.4f}." if winner else "No winner."] + notes
    )
    plan_file = out / PLAN_FILE
    summary = {
        "metric": metric,
        "studies": json.loads(families.to_json(orient="records")),  # NaN and NA as null
        "reference": refs,
        "seed_reruns": json.loads(seeds.to_json(orient="records")) if len(seeds) else [],
        "winner": str(out / "best") if (out / "best").exists() else None,
        "winner_test": {score: winner_test},
        "winner_metrics": json.loads((out / "best" / "metrics.json").read_text())
        if (out / "best" / "metrics.json").exists()
        else None,
        "notes": notes,
        "budget": json.loads(plan_file.read_text()) if plan_file.exists() else None,
    }
    write_json(out / "summary.json", summary)
    print((out / "leaderboard.md").read_text())
    return summary


class SelectionCallback(Callback):
    """Hydra callback: run model selection once all studies of a ``-m`` sweep have finished.

    Hydra turns a callback's exception into a warning; a failed selection must fail the command instead.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
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
