"""predict.py on a large CSV: rows/s against the model's own batch-64 rate, and peak RSS (it must not grow with rows).

Writes a CSV of ``--rows`` rows (columns id, text, source; texts drawn from mr's test split), then runs
``python src/predict.py ckpt_path=... input=... output=...`` as a user would, for each size in ``--rows``, and
prints rows/s, the checkpoint's measured batch-64 rate (``latency_ms/b64`` in its run's metrics.json: forward
passes only) and the peak RSS of the predict process. Without ``--ckpt`` it trains the default mha on mr first.

  .venv/bin/python scripts/bench/predict_stream.py --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make_csv(path: Path, rows: int) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from attentune.data.builtin import load_mr

    texts = load_mr().test.texts
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "source"])
        w.writerows((f"r{i:07d}", rng.choice(texts), "bench") for i in range(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--ckpt", type=Path, help="a run directory (default: train the default mha on mr)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "attentune-predict-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run = args.ckpt or args.work / "mha_mr"
    if not (run / "metrics.json").exists():
        subprocess.run([sys.executable, "src/train.py", f"hydra.run.dir={run}"], cwd=REPO, check=True)
    metrics = json.loads((run / "metrics.json").read_text())
    model_rate = 1000.0 / metrics["latency_ms/b64"]
    print(f"model: {run} ({metrics['num_params']:,} params): batch-64 forward rate {model_rate:,.0f} rows/s")
    for rows in args.rows:
        src, out = args.work / f"in_{rows}.csv", args.work / f"out_{rows}.csv"
        if not src.exists():
            make_csv(src, rows)
        start = time.perf_counter()
        cmd = [sys.executable, "src/predict.py", f"ckpt_path={run}", f"input={src}", f"output={out}", "overwrite=true"]
        # through a fresh parent, so that its children's peak RSS is predict's alone (not the training run's)
        proc = subprocess.run(
            [sys.executable, "-c", PEAK, *cmd, f"hydra.run.dir={args.work}/hydra"],
            cwd=REPO,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
        peak = int(proc.stdout.strip().splitlines()[-1]) / 1024
        print(
            f"{rows:,} rows: {seconds:.1f} s, {rows / seconds:,.0f} rows/s ({rows / seconds / model_rate:.2f} of the "
            f"model's batch-64 rate; process start and model load included); peak RSS {peak:,.0f} MiB"
        )


PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); \
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"


if __name__ == "__main__":
    main()
