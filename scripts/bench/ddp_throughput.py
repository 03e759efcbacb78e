"""DDP training throughput: ``train.py trainer=ddp trainer.devices=N`` against one process, through the real entry
point on the same data, config and number of epochs. Each rank trains with one torch thread (the 2-core
machines: N processes x 1 thread vs 1 process x 1 thread, and also 1 process x N threads, the fair
single-process baseline on N cores). Prints training tokens/s (``train_tokens`` x epochs / ``train_seconds``).

    .venv/bin/python scripts/bench/ddp_throughput.py --epochs 1 --processes 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(overrides: list[str], threads: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "src/train.py", *overrides, f"hydra.run.dir={out}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides (default: model=mha on mr)")
    args = parser.parse_args()
    base = [f"trainer.max_epochs={args.epochs}", "callbacks.early_stopping=null", "latency=null", *args.overrides]
    n = args.processes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra, threads in (
            ("1 process x 1 thread", [], 1),
            (f"1 process x {n} threads", [], n),
            (f"{n} processes x 1 thread (DDP, gloo)", ["trainer=ddp", f"trainer.devices={n}"], 1),
        ):
            metrics = run(base + extra, threads, Path(tmp) / str(len(rows)))
            tokens_s = metrics["train_tokens"] * metrics["epochs"] / metrics["train_seconds"]
            rows.append((name, metrics["train_seconds"], tokens_s, metrics["test/acc"]))
    print(f"{'run':<36} {'train s':>8} {'tokens/s':>10} {'vs 1x1':>7} {'test acc':>9}")
    for name, seconds, tokens_s, acc in rows:
        print(f"{name:<36} {seconds:>8.1f} {tokens_s:>10.0f} {tokens_s / rows[0][2]:>7.2f} {acc:>9.4f}")


if __name__ == "__main__":
    main()
