"""Model selection over a finished sweep: leaderboard, multi-seed re-runs of the top-k, the winner in best/."""

from __future__ import annotations

import json
import logging
import math
import shutil
import traceback
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict
from ray import tune

from attentune.errors import ConfigError
from attentune.reports.leaderboard import write_leaderboard
from attentune.reports.plots import plot_accuracy_latency, plot_learning_curves
from attentune.reports.stats import mean_ci95
from attentune.tasks.cli import run_task
from attentune.tasks.train import write_json
from attentune.tuning.cluster import ray_session, trial_resources
from attentune.tuning.results import best_first, trial_table
from attentune.tuning.trainable import run_job, trainable

SEEDS_DIR = "seeds"  # the multi-seed re-runs, a Ray Tune experiment under the sweep directory

log = logging.getLogger(__name__)


def load_studies(sweep_dir: Path) -> list[dict[str, Any]]:
    studies = []
    for summary_file in sorted(sweep_dir.glob("*/study.json")):
        run_dir = summary_file.parent
        summary = json.loads(summary_file.read_text())
        trials = pd.read_csv(run_dir / "trials.csv")
        trials["family"] = summary["family"]
        trials["study"] = summary["study"]
        setup = json.loads((run_dir / "base_config.json").read_text())
        studies.append({**summary, "dir": run_dir, "trials": trials, **setup})
    if not studies:
        raise ConfigError(f"sweep_dir: no finished studies (*/study.json) under {sweep_dir}")
    return studies


def family_table(studies: list[dict], metric: str, mode: str = "max") -> pd.DataFrame:
    """A row per study: its best trial that finished training (so it has test metrics); a study where none
    finished (all stopped by a scheduler or the time budget) shows its best stopped trial."""
    rows = []
    for s in studies:
        t = s["trials"]
        done = t[t["status"] != "ERROR"].dropna(subset=[metric])
        finished = done.dropna(subset=["test/acc"]) if "test/acc" in done else done.iloc[0:0]
        ranked = finished if len(finished) else done  # trials.csv is sorted best first
        best = ranked.iloc[0] if len(ranked) else pd.Series(dtype=object)
        rows.append(
            {
                "study": s["study"],
                f"best {metric}": best.get(metric, math.nan),
                "test/acc": best.get("test/acc", math.nan),
                "test/f1_macro": best.get("test/f1_macro", math.nan),
                "params": best.get("num_params", math.nan),
                "latency ms (b1)": best.get("latency_ms/b1", math.nan),
                "latency ms (b64)": best.get("latency_ms/b64", math.nan),
                "train s": best.get("train_seconds", math.nan),
                "trials": len(t),
                "failed": int((t["status"] == "ERROR").sum()),
            }
        )
    return best_first(pd.DataFrame(rows), f"best {metric}", mode).reset_index(drop=True)


def seed_jobs(studies: list[dict], metric: str, mode: str, selection: DictConfig) -> list[dict]:
    """The multi-seed re-runs of the top-k finished configurations across all studies, longest first.

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
        key = {"rank": int(trial["_rank"]), "study": study["study"], "trial_id": trial["trial_id"]}
        for seed in dict.fromkeys(selection.seeds):  # unique, in order
            params = {**json.loads(trial["params"]), "seed": seed}
            jobs.append(key | {"seed": seed, "base": study["base"], "params": params, "derived": study["derived"]})
    return jobs


def _run_jobs(jobs: list[dict], metric: str, mode: str, cfg: DictConfig) -> pd.DataFrame:
    storage = Path(cfg.sweep_dir).resolve()
    resources = trial_resources(cfg)
    with ray_session(cfg.ray, resources):
        results = tune.Tuner(
            tune.with_resources(trainable(run_job, jobs=jobs, study_path=str(storage / SEEDS_DIR)), resources),
            param_space={"job": tune.grid_search(list(range(len(jobs))))},
            tune_config=tune.TuneConfig(
                metric=metric, mode=mode, max_concurrent_trials=cfg.max_concurrent, reuse_actors=cfg.reuse_actors
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
    rows = []
    for (_, study, trial_id), group in runs.groupby(["rank", "study", "trial_id"]):
        ok = group.dropna(subset=[metric, "test/acc"])
        val_mean, val_ci = mean_ci95(ok[metric].tolist()) if len(ok) else (math.nan, math.nan)
        test_mean, test_ci = mean_ci95(ok["test/acc"].tolist()) if len(ok) else (math.nan, math.nan)
        rows.append(
            {
                "study": study,
                "trial": trial_id,
                "seeds": len(ok),
                f"{metric} mean": val_mean,
                f"{metric} ±95%": val_ci,
                "test/acc mean": test_mean,
                "test/acc ±95%": test_ci,
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


def select(cfg: DictConfig) -> dict[str, Any]:
    """Write leaderboard.{md,csv}, summary.json, the PNG plots and best/ into ``cfg.sweep_dir``."""
    out = Path(cfg.sweep_dir)
    studies = load_studies(out)
    monitors = {(s["metric"], s["mode"]) for s in studies}  # each study's monitor, from its study.json
    if len(monitors) > 1:
        raise ConfigError(f"sweep_dir: the studies monitor different metrics {sorted(monitors)}; cannot rank them")
    metric, mode = monitors.pop()
    families = family_table(studies, metric, mode)
    jobs = seed_jobs(studies, metric, mode, cfg.selection) if cfg.selection.seeds else []
    runs = _run_jobs(jobs, metric, mode, cfg) if jobs else pd.DataFrame()
    seeds = seed_table(runs, metric, mode) if len(runs) else pd.DataFrame()
    write_leaderboard(families, seeds, out)

    trials = pd.concat([s["trials"] for s in studies], ignore_index=True)
    x = cfg.selection.pareto_x
    # float: a study without trials (its empty trials.csv) would leave these columns of dtype object
    plotted = trials.dropna(subset=[x, "test/acc", "num_params"]).astype(
        {x: float, "test/acc": float, "num_params": float}
    )
    if len(plotted):
        plot_accuracy_latency(plotted, x, "test/acc", out / "accuracy_vs_latency.png")
    curves = learning_curves(studies, metric)
    if curves:
        plot_learning_curves(curves, metric, out / "learning_curves.png")

    if len(seeds):  # the winner: best mean over seeds; its best seed's checkpoint
        top = seeds.iloc[0]
        winner_runs = runs[(runs["study"] == top["study"]) & (runs["trial_id"] == top["trial"])]
        winner_dir = Path(best_first(winner_runs, metric, mode).iloc[0]["trial_dir"])
    else:
        finished = best_first(trials[trials["status"] == "TERMINATED"], metric, mode)
        winner_dir = Path(finished.iloc[0]["trial_dir"]) if len(finished) else None
    if winner_dir is not None and (winner_dir / "checkpoints" / "best.ckpt").exists():
        copy_winner(winner_dir, out / "best")
    summary = {
        "metric": metric,
        "studies": families.to_dict(orient="records"),
        "seed_reruns": seeds.to_dict(orient="records"),
        "winner": str(out / "best") if (out / "best").exists() else None,
        "winner_metrics": json.loads((out / "best" / "metrics.json").read_text())
        if (out / "best" / "metrics.json").exists()
        else None,
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
        try:
            run_task(select, config)  # user errors: one line, exit 2
        except Exception:
            traceback.print_exc()
            raise SystemExit(1) from None
