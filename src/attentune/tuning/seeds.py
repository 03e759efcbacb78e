"""Selection's multi-seed re-runs: which configurations, how many seeds fit the budget, and their table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig
from ray import tune
from ray.tune import PlacementGroupFactory

from attentune.reports.stats import mean_ci95
from attentune.tuning.cluster import concurrent_trials, placement, ray_session, whole_trial, workers_of
from attentune.tuning.planner.cost import RAY_START_S
from attentune.tuning.results import TrialLines, best_first, test_of, trial_table
from attentune.tuning.trainable import run_job, trainable

SEEDS_DIR = "seeds"  # the multi-seed re-runs, a Ray Tune experiment under the sweep directory


def job_seconds(trial: pd.Series) -> float:
    """What a fresh re-run of a trial's configuration takes (with the trial's resources), from the trial's own
    wall time (all its rounds: a trial the deadline stopped early would have run longer)."""
    seconds = trial.get("time_total_s", math.nan)
    if seconds is None or math.isnan(float(seconds)):
        seconds = 1.2 * float(trial.get("train_seconds", 0.0) or 0.0) + 10.0
    return float(seconds) * (1.5 if trial.get("stopped_by_deadline") == 1 else 1.0)


def fit_jobs(jobs: list[dict], seconds_left: float | None, cpus: float) -> tuple[list[dict], str]:
    """The re-runs of the best-ranked configurations that fit ``seconds_left`` on ``cpus`` CPUs, and a note.

    A configuration whose seeds do not all fit runs fewer of them, its own trial re-used as the first seed
    (``reused``), rather than being left out; one whose single re-run does not fit is left out.
    """
    if seconds_left is None:
        return jobs, ""
    ranks = sorted({j["rank"] for j in jobs})
    kept: list[dict] = []
    notes, dropped, need = [], 0, 0.0
    for rank in ranks:
        mine = [j for j in jobs if j["rank"] == rank]
        for n in range(len(mine), 0, -1):
            makespan = _makespan(kept + mine[:n], cpus)
            if makespan <= seconds_left:
                if n < len(mine):
                    seeds = f"{n} fresh seed{'s' if n > 1 else ''}"
                    notes.append(f"{mine[0]['study']} trial {mine[0]['trial_id']}: {seeds} and its own trial")
                kept += [j | {"reused": n < len(mine)} for j in mine[:n]]
                break
        else:
            dropped, need = dropped + 1, max(need, _makespan(kept + mine[:1], cpus))
    text = f"seed re-runs (budget): {'; '.join(notes)}" if notes else ""
    if dropped:
        text += ("; " if text else "seed re-runs: ") + (
            f"{dropped} of {len(ranks)} configurations left out, they need ≈ {need:.0f} s "
            f"and {max(0.0, seconds_left):.0f} s of the budget are left"
        )
    return kept, text


def _makespan(jobs: list[dict], cpus: float) -> float:
    work = sum(j["seconds"] * whole_trial(j["resources"])["cpu"] for j in jobs)  # CPU-seconds
    return RAY_START_S + max(max(j["seconds"] for j in jobs), work / max(cpus, 1.0))


def reused_trials(jobs: list[dict], studies: list[dict], metric: str) -> pd.DataFrame:
    """The trials re-used as a seed (``fit_jobs``), as rows of the re-runs' table (their own seed)."""
    rows = []
    for j in {(j["rank"], j["study"], j["trial_id"]): j for j in jobs if j.get("reused")}.values():
        t = next(s["trials"] for s in studies if s["study"] == j["study"])
        trial = t[t["trial_id"] == j["trial_id"]].iloc[0]
        rows.append(
            {"rank": j["rank"], "study": j["study"], "trial_id": j["trial_id"], "seed": "trial"}
            | {metric: trial[metric], test_of(metric): trial.get(test_of(metric), math.nan)}
            | {"trial_dir": trial["trial_dir"]}
        )
    return pd.DataFrame(rows)


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


def run_jobs(jobs: list[dict], metric: str, mode: str, cfg: DictConfig) -> pd.DataFrame:
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
                callbacks=[TrialLines(metric, mode)],
                verbose=0,  # a line per run (TrialLines), not Ray's tables
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
