"""Cold start and memory of the commands.

Prints the seconds from launch to exit (median of ``--runs``) of ``train.py --help`` and ``tune.py --help``
(target <= 3 s), a config mistake (``heads=7 d_model=256``: one line, exit 2; target <= 3 s) for both, and
``train.py trainer.fast_dev_run=true`` (target <= 8 s); with ``--full``, the peak RSS of a default training run.

    .venv/bin/python scripts/bench/cold_start.py [--runs 3] [--full]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(overrides: list[str], script: str = "train.py", expect: int = 0) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one ``src/<script>`` process, which must exit with ``expect``."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, f"src/{script}", *overrides, f"hydra.run.dir={out}"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != expect:
            sys.exit(f"{script} exited {proc.returncode}, not {expect}:\n{proc.stderr[-2000:]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the max over all children so far: only meaningful when it grew.
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also a default training run (minutes) for peak RSS")
    args = parser.parse_args()
    for script in ("train.py", "tune.py"):
        for what, overrides, expect in (("--help", ["--help"], 0), ("a config error", ["heads=7", "d_model=256"], 2)):
            times = [run(overrides, script, expect)[0] for _ in range(args.runs)]
            print(f"{script} {what}: median {statistics.median(times):.2f} s ({', '.join(f'{t:.2f}' for t in times)})")
    fast = ["+trainer.fast_dev_run=true", "callbacks.rich_progress_bar=null"]
    results = [run(fast) for _ in range(args.runs)]
    times = [t for t, _ in results]
    print(
        f"fast_dev_run cold start: median {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}), peak RSS {max(r for _, r in results):.0f} MiB"
    )
    if args.full:
        seconds, rss = run(["callbacks.rich_progress_bar=null"])
        print(f"default run (mha on mr): {seconds:.0f} s wall, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
