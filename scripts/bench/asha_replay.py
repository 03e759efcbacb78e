"""Replay finished search-efficiency studies under other ASHA settings, without training anything.

A trial's training is deterministic (its seed and configuration fix every round's validation accuracy), and
random search with one seed draws the same configurations in the same order in every study of that seed
(``search_efficiency.py``'s random, random-full and random+asha). So the per-round accuracy and wall time
those studies recorded for configuration *i* are what any other random-search study of the seed would see for
it. This script replays the seed's configurations through Ray's own ``ASHAScheduler`` with other grace
periods, reduction factors or time units, with the real studies' concurrency, rounds and early stopping
(read from each study's composed config), and prints the time each setting needs to reach the real baselines' best
validation accuracy, as ``search_efficiency.py`` does.

Calibration first: each real study's settings are replayed and printed next to what the study really did.
Limits: a replayed trial that would train a round no real study ran ends there (column ``unseen``), and a
worker that needs a configuration no real study drew idles; between two trials on a worker a replay waits
``GAP_S``, the measured per-trial platform overhead.

    .venv/bin/python scripts/bench/asha_replay.py --out /tmp/exp/se900 --seeds 5 6 7 --grace 1 2 --rf 3 4
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from omegaconf import OmegaConf
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

sys.path.insert(0, str(Path(__file__).parent))
from search_efficiency import BASELINES, METRIC, best_so_far, time_to_reach  # noqa: E402

import attentune.tasks.build  # noqa: E402, F401  (registers the ${mul:} resolver of trainer.max_epochs)

GAP_S = 0.27  # per-trial platform overhead (scripts/bench/tune_overhead.py)
STUDIES = (*BASELINES, "random+asha")  # the random-search studies of a seed


@dataclass
class Settings:
    """What a replay needs of a real study's composed config (``.hydra/config.yaml``)."""

    workers: int
    max_rounds: int
    patience: int | None  # early stopping; None: off
    asha: dict | None  # the study's ASHA arguments; None: FIFO

    @classmethod
    def of(cls, run_dir: Path) -> Settings:
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
        stopping = cfg.callbacks.get("early_stopping")
        scheduler = cfg.scheduler if cfg.scheduler._target_.endswith("ASHAScheduler") else None
        return cls(
            workers=cfg.max_concurrent,
            max_rounds=cfg.trainer.max_epochs,
            patience=stopping.patience if stopping else None,
            asha={"grace": scheduler.grace_period, "rf": scheduler.reduction_factor} if scheduler else None,
        )


def observed(out: Path, seed: int) -> dict[int, dict]:
    """Configuration index -> its config, per-round ``(val accuracy, seconds)`` and the seconds after its last
    round (test, latency), from the longest run of it in any random-search study of ``seed``."""
    runs: dict[int, dict] = {}
    for study in STUDIES:
        for result in (out / f"{study}_seed{seed}" / "study").glob("*/result.json"):
            reports = [json.loads(line) for line in result.read_text().splitlines()]
            per_round = [r for r in reports if f"{METRIC}_epoch" in r]
            if not per_round:
                continue
            rounds = [(r[f"{METRIC}_epoch"], r["time_this_iter_s"]) for r in per_round]
            final = [r["time_total_s"] for r in reports if r.get("final")]
            index = int(re.search(r"_(\d{5})_", result.parent.name).group(1))
            seen = runs.setdefault(index, {"config": reports[0]["config"], "rounds": [], "tail": None})
            if seen["config"] != reports[0]["config"]:
                sys.exit(f"seed {seed}: configuration {index} differs between studies; cannot replay")
            if len(rounds) > len(seen["rounds"]):
                seen["rounds"] = rounds
            if final and seen["tail"] is None:
                seen["tail"] = final[0] - per_round[-1]["time_total_s"]
    tails = [r["tail"] for r in runs.values() if r["tail"] is not None]
    for run in runs.values():
        run["tail"] = run["tail"] if run["tail"] is not None else sorted(tails)[len(tails) // 2]
    return runs


def replay(runs: dict[int, dict], settings: Settings, scheduler: TrialScheduler | None, budget: float) -> dict:
    """Event-driven replay of a study: returns its best-so-far curve, trials started and trials cut short."""
    events: list[tuple[float, int, dict]] = []
    indices = itertools.count()
    curve, best, started, unseen = [], -math.inf, 0, 0

    def start(now: float) -> None:
        nonlocal started
        for index in indices:
            if index > max(runs):
                return  # the real studies never drew this configuration: the worker idles
            if index in runs:
                trial = {"round": 0, "best": -math.inf, "stale": 0, "elapsed": 0.0}
                trial["handle"] = SimpleNamespace(trial_id=str(index))
                if scheduler:
                    scheduler.on_trial_add(None, trial["handle"])
                started += 1
                heapq.heappush(events, (now + runs[index]["rounds"][0][1], index, trial))
                return

    for _ in range(settings.workers):
        start(0.0)
    while events:
        now, index, trial = heapq.heappop(events)
        if now > budget:
            break
        acc, seconds = runs[index]["rounds"][trial["round"]]
        trial["round"] += 1
        trial["elapsed"] += seconds
        trial["stale"] = 0 if acc > trial["best"] else trial["stale"] + 1
        trial["best"] = max(trial["best"], acc)
        if trial["best"] > best:
            best = trial["best"]
            curve.append({"t": now, "best": best})
        result = {METRIC: trial["best"], "epoch": trial["round"], "time_total_s": trial["elapsed"]}
        stopped_early = settings.patience is not None and trial["stale"] >= settings.patience
        finished = trial["round"] >= settings.max_rounds or stopped_early
        # as in a real trial: the scheduler sees the round's report first; a trial it lets go on may then end
        # by itself (early stopping, last round) and run its test and latency measurement
        if scheduler and scheduler.on_trial_result(None, trial["handle"], result) == TrialScheduler.STOP:
            start(now + GAP_S)
        elif finished:
            if scheduler:
                scheduler.on_trial_complete(None, trial["handle"], result)
            start(now + runs[index]["tail"] + GAP_S)
        elif trial["round"] >= len(runs[index]["rounds"]):
            unseen += 1
            start(now + GAP_S)
        else:
            heapq.heappush(events, (now + runs[index]["rounds"][trial["round"]][1], index, trial))
    return {"curve": pd.DataFrame(curve), "trials": started, "unseen": unseen}


def asha(grace: float, rf: float, time_attr: str, max_rounds: int) -> ASHAScheduler:
    max_t = max_rounds if time_attr == "epoch" else 10**6
    return ASHAScheduler(
        time_attr=time_attr,
        metric=METRIC,
        mode="max",
        max_t=max_t,
        grace_period=grace,
        reduction_factor=rf,
        stop_last_trials=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="search_efficiency.py's --out")
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--budget", type=float, default=900.0)
    parser.add_argument("--grace", type=float, nargs="+", default=[1, 2, 3], help="in rounds (or seconds)")
    parser.add_argument("--rf", type=float, nargs="+", default=[2, 3, 4, 6])
    parser.add_argument("--time-attr", choices=["epoch", "time_total_s"], default="epoch")
    args = parser.parse_args()

    calibration, rows = [], []
    for seed in args.seeds:
        runs = observed(args.out, seed)
        real = {study: best_so_far(args.out / f"{study}_seed{seed}") for study in STUDIES}
        for study in STUDIES:
            settings = Settings.of(args.out / f"{study}_seed{seed}")
            own = settings.asha and asha(settings.asha["grace"], settings.asha["rf"], "epoch", settings.max_rounds)
            replayed = replay(runs, settings, own, args.budget)
            target = float(real[study]["best"].max())
            calibration.append(
                {
                    "seed": seed,
                    "study": study,
                    "real best": target,
                    "real t s": time_to_reach(real[study], target),
                    "real trials": real[study]["trial"].nunique(),
                    "replay best": float(replayed["curve"]["best"].max()),
                    "replay t s": time_to_reach(replayed["curve"], target),
                    "replay trials": replayed["trials"],
                }
            )
        settings = Settings.of(args.out / f"random+asha_seed{seed}")  # the grid changes only ASHA's arguments
        for grace, rf in itertools.product(args.grace, args.rf):
            replayed = replay(runs, settings, asha(grace, rf, args.time_attr, settings.max_rounds), args.budget)
            for baseline in BASELINES:
                target = float(real[baseline]["best"].max())
                t = time_to_reach(replayed["curve"], target)
                rows.append(
                    {
                        "grace": grace,
                        "rf": rf,
                        "baseline": baseline,
                        "seed": seed,
                        "t/t_base": t / time_to_reach(real[baseline], target),
                        "trials": replayed["trials"],
                        "unseen": replayed["unseen"],
                    }
                )

    show = {"float_format": lambda v: "-" if math.isinf(v) else f"{v:.3f}", "index": False}
    print("calibration: each real study's own settings, replayed\n")
    print(pd.DataFrame(calibration).to_string(**show))
    table = pd.DataFrame(rows)
    print(f"\nASHA ({args.time_attr}) replayed: time to reach each real baseline's best / the baseline's time\n")
    print(table.to_string(**show))
    medians = table.groupby(["grace", "rf", "baseline"])["t/t_base"].median().unstack("baseline")
    print("\nmedian over seeds (target <= 0.333)\n")
    print(medians.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
