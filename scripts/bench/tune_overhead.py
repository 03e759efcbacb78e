"""Per-trial platform overhead of a search: attentune's tune.py vs bare Ray Tune with a no-op trainable.

Runs N trivial trials (tiny model, a few steps) through the real ``src/tune.py`` and N no-op trials through
bare Ray Tune, each with the same concurrency. Wall time is ``Tuner.fit``'s in both. Prints seconds per trial
beyond the time spent inside the trainables, ``(wall * concurrency - sum(trial time)) / N``, and beyond the
time inside Lightning's ``fit`` (so data, tokenizer, test, latency and logging set-up count as overhead).
Trials log to CSV and W&B offline (tune.py's default); add ``logger=csv`` to leave W&B out. Must run in a
loopback-only network namespace:

    unshare -rn sh -c 'ip link set lo up && .venv/bin/python scripts/bench/tune_overhead.py --trials 50'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "experiment=tiny",
    "model=mha",
    "trainer.limit_train_batches=3",
    "searcher=random",
    "search=none",
    "scheduler=fifo",
]


def bare_ray(trials: int, concurrency: int, overrides: list[str]) -> tuple[float, float, float]:
    import ray
    from ray import tune

    ray.init(
        address="local",
        num_cpus=concurrency,
        _temp_dir=tempfile.mkdtemp(prefix="bench-ray-"),
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        start = time.perf_counter()
        results = tune.Tuner(
            tune.with_resources(lambda config: tune.report({"x": config["x"]}), {"cpu": 1}),
            param_space={"x": tune.uniform(0, 1)},
            tune_config=tune.TuneConfig(
                num_samples=trials, metric="x", mode="max", reuse_actors=True, max_concurrent_trials=concurrency
            ),
            run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="bench-tune-"), verbose=0),
        ).fit()
        wall = time.perf_counter() - start
        inside = sum(r.metrics.get("time_total_s", 0.0) for r in results)
    finally:
        ray.shutdown()
    return wall, inside, inside


def attentune_search(trials: int, concurrency: int, overrides: list[str]) -> tuple[float, float, float]:
    import pandas as pd

    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(
            [
                sys.executable,
                "src/tune.py",
                *TINY,
                *overrides,
                f"num_samples={trials}",
                f"max_concurrent={concurrency}",
                f"ray.num_cpus={concurrency}",
                f"hydra.run.dir={out}",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            sys.exit(proc.stderr[-3000:])
        wall = json.loads((Path(out) / "study.json").read_text())["search_seconds"]  # Tuner.fit, as for bare Ray
        table = pd.read_csv(Path(out) / "trials.csv")
        inside = 0.0
        for trial_dir in table["trial_dir"]:
            rows = [json.loads(line) for line in (Path(trial_dir) / "result.json").read_text().splitlines()]
            inside += rows[-1]["time_total_s"]
    return wall, inside, float(table["train_seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="extra tune.py overrides, e.g. logger=csv")
    args = parser.parse_args()
    print(f"{args.trials} trials, {args.concurrency} at a time")
    print(f"{'':>22} {'search s':>9} {'in trials s':>12} {'in fit s':>9} {'beyond trial s':>15} {'beyond fit s':>13}")
    for name, fn in (("bare Ray Tune (no-op)", bare_ray), ("attentune tune.py", attentune_search)):
        wall, inside, fit = fn(args.trials, args.concurrency, args.overrides)
        slots = wall * args.concurrency
        print(
            f"{name:>22} {wall:9.1f} {inside:12.1f} {fit:9.1f} {(slots - inside) / args.trials:15.2f}"
            f" {(slots - fit) / args.trials:13.2f}"
        )


if __name__ == "__main__":
    main()
