"""Search efficiency on mr with the mha space: how soon do ASHA and TPE + ASHA reach random search's best?

For each seed, four studies run through the real ``src/tune.py`` with the same wall budget (``time_budget_s``),
all with ``conf/tune.yaml``'s trials (a report, and an ASHA decision, every third of an epoch). Two baselines,
random search with FIFO:

- ``random``: every trial trains until its early stopping (patience 3 rounds, our training default) or its last
  epoch: the baseline a user of attentune gets;
- ``random-full``: early stopping off, every trial trains all its epochs: the textbook baseline of the ASHA paper
  (Li et al. 2020, random search gives each configuration the full budget);

and two schedulers, random search with ASHA and Optuna TPE with ASHA (early stopping on, as users run them).
The same seed makes the three random searches draw the same configurations in the same order. From every trial's
per-round reports (best validation accuracy so far) we build each study's best-so-far curve over study wall time,
then print, for each baseline and scheduler:

- the baseline's best validation accuracy and the time it took to reach it (``t_base``);
- the time the scheduler took to reach that same accuracy (``t``, "-" if never within the budget),
  ``t / t_base`` (target <= 1/3) and ``t / budget`` (the share of the common wall budget).

When a baseline finds its best among its first few trials (its position is uniform over the trials it runs), no
scheduler can reach that accuracy in a third of the time, since the best configuration alone takes about that
long to train: larger budgets (``--budget``) lower the ratio; the README has the measured numbers.

Must run in a loopback-only network namespace (Ray):

    unshare -rn sh -c 'ip link set lo up && .venv/bin/python scripts/bench/search_efficiency.py --seeds 1 2 3'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
BASELINES = {  # random search: every trial trains until its early stopping (our default) / all its epochs
    "random": ["searcher=random", "scheduler=fifo"],
    "random-full": ["searcher=random", "scheduler=fifo", "callbacks.early_stopping=null"],
}
METHODS = {
    **BASELINES,
    "random+asha": ["searcher=random", "scheduler=asha"],
    "tpe+asha": ["searcher=optuna", "scheduler=asha"],
}
METRIC = "val/acc"


def run_study(method: str, seed: int, budget: float, out: Path, extra: list[str]) -> Path:
    run_dir = out / f"{method}_seed{seed}"
    if (run_dir / "study.json").exists():  # finished in an earlier, interrupted run of this benchmark
        return run_dir
    cmd = [
        sys.executable,
        "src/tune.py",
        "model=mha",
        "search=mha",
        *METHODS[method],
        f"seed={seed}",
        f"time_budget_s={budget}",
        "num_samples=1000",  # the budget ends the study
        "evaluate_default=false",  # every method samples from its first trial, as when the numbers were taken
        "logger=csv",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{method} seed {seed} failed:\n{proc.stderr[-3000:]}")
    return run_dir


def best_so_far(run_dir: Path) -> pd.DataFrame:
    """``(trial, t, best)``: study wall seconds at each epoch report, the best validation accuracy until then."""
    rows = []
    for result in (run_dir / "study").glob("*/result.json"):
        for line in result.read_text().splitlines():
            r = json.loads(line)
            if METRIC in r and "epoch" in r:  # per-epoch reports (the final summary has no epoch)
                rows.append(
                    {
                        "trial": result.parent.name,
                        "end": r["timestamp"],
                        "start": r["timestamp"] - r["time_total_s"],
                        METRIC: r[METRIC],
                    }
                )
    frame = pd.DataFrame(rows)
    t0 = frame["start"].min()  # the first trial's start: the study's time zero
    frame = frame.assign(t=frame["end"] - t0).sort_values("t")
    return frame.assign(best=frame[METRIC].cummax())[["trial", "t", "best"]]


def time_to_reach(curve: pd.DataFrame, target: float) -> float:
    hit = curve[curve["best"] >= target - 1e-9]
    return float(hit["t"].iloc[0]) if len(hit) else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--budget", type=float, default=180.0, help="wall seconds per study")
    parser.add_argument("--out", type=Path, default=None, help="studies go (and finished ones are reused) here")
    parser.add_argument("--baselines", nargs="+", choices=list(BASELINES), default=list(BASELINES))
    schedulers = [m for m in METHODS if m not in BASELINES]
    parser.add_argument("--methods", nargs="+", choices=schedulers, default=schedulers)
    parser.add_argument("overrides", nargs="*", help="extra tune.py overrides, e.g. data=trec")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="search-efficiency-"))

    rows = []
    for seed in args.seeds:
        studies = [*args.baselines, *args.methods]
        curves = {m: best_so_far(run_study(m, seed, args.budget, out, args.overrides)) for m in studies}
        for baseline in args.baselines:
            target = float(curves[baseline]["best"].max())
            t_base = time_to_reach(curves[baseline], target)
            for method in args.methods:
                t = time_to_reach(curves[method], target)
                row = {"seed": seed, "baseline": baseline, "base trials": curves[baseline]["trial"].nunique()}
                row |= {"base best": target, "t_base s": t_base, "method": method}
                row |= {"trials": curves[method]["trial"].nunique(), "best": float(curves[method]["best"].max())}
                row |= {"t s": t, "t/t_base": t / t_base, "t/budget": t / args.budget}
                rows.append(row)
                print(json.dumps(row), flush=True)

    table = pd.DataFrame(rows)
    print(f"\nmr, mha space, {args.budget:.0f} s per study, 2 trials at a time; studies under {out}\n")
    print(table.to_string(index=False, float_format=lambda v: "-" if math.isinf(v) else f"{v:.3f}"))
    for (baseline, method), group in table.groupby(["baseline", "method"], sort=False):
        reached = group["t/t_base"][~group["t/t_base"].map(math.isinf)]
        print(
            f"{method} vs {baseline}: reached its best in {len(reached)}/{len(group)} seeds; "
            f"median t/t_base {group['t/t_base'].median():.3f} (target <= 0.333), "
            f"median t/budget {group['t/budget'].median():.3f}"
        )


if __name__ == "__main__":
    main()
