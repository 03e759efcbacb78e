"""ONNX export of trained runs, one per family and task: parity on the whole test split, int8's size and score, and
milliseconds per example at batch 1 and 64 for torch, onnx fp32 and onnx int8 (``predict.py benchmark=true``).

Each run is exported as a user would (``python src/export.py ckpt_path=<run> quantize=int8``); the timing is the
benchmark's own code. Prints one table row per run and writes the rows as JSON with ``--out``.

  OMP_NUM_THREADS=1 .venv/bin/python scripts/bench/export_families.py --runs <run dir> [<run dir> ...] --out rows.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--calls", type=int, default=50, help="timed calls per batch size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from attentune.serving.benchmark import benchmark

    rows = []
    with tempfile.TemporaryDirectory(prefix="export-families-") as tmp:
        for run in args.runs:
            out = Path(tmp) / Path(run).parent.name
            cmd = [sys.executable, str(REPO / "src" / "export.py"), f"ckpt_path={run}", "quantize=int8"]
            proc = subprocess.run([*cmd, f"output={out}", f"hydra.run.dir={tmp}/hydra"], capture_output=True, text=True)
            if proc.returncode != 0:
                rows.append({"run": run, "error": proc.stderr.strip().splitlines()[-1]})
                print(json.dumps(rows[-1]), flush=True)
                continue
            spec = json.loads((out / "config.json").read_text())
            bench = OmegaConf.create(
                {
                    "ckpt_path": run,
                    "batch_size": 64,
                    "benchmark_options": {"split": "test", "batch_sizes": [1, 64], "calls": args.calls},
                }
            )
            try:
                timing = benchmark(bench)["backends"]
            except Exception as exc:  # noqa: BLE001 - one run's failure is a row, the others still run
                rows.append({"run": run, "error": f"benchmark: {type(exc).__name__}: {exc}"})
                print(json.dumps(rows[-1]), flush=True)
                continue
            parity = spec["parity"]
            rows.append(
                {
                    "run": run,
                    "model": spec["model"],
                    "task": spec["task"],
                    "data": spec["info"].get("dataset"),
                    "examples": parity["examples"],
                    "fp32_equal": parity["examples"] - parity["fp32"]["mismatches"],
                    "fp32_max_diff": parity["fp32"]["max_diff"],
                    "int8_equal": parity["examples"] - parity["int8"]["mismatches"],
                    "score": parity["score"],
                    "int8_drop_points": parity["int8_drop_points"],
                    "size_mb": spec["sizes_mb"],
                    "ms": {name: {b: row[b] for b in ("b1", "b64")} for name, row in timing.items()},
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print(
        "\nmodel | data | test examples | fp32 = torch | max diff | int8 = torch | score torch / fp32 / int8"
        " | MB fp32 / int8"
        " | b1 p50 ms torch / onnx / int8 | b64 p50 ms torch / onnx / int8"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['run']} | error: {r['error']}")
            continue
        s, ms = r["score"], r["ms"]
        b = {
            k: " / ".join(f"{ms[n][k]['p50_ms']:.3f}" for n in ("torch", "onnx fp32", "onnx int8"))
            for k in ("b1", "b64")
        }
        print(
            f"{r['model']} | {r['data']} | {r['examples']} | {r['fp32_equal']} | {r['fp32_max_diff']:.1e} | "
            f"{r['int8_equal']} | {s['torch']:.4f} / {s['fp32']:.4f} / {s['int8']:.4f} | "
            f"{r['size_mb']['fp32']:.2f} / {r['size_mb']['int8']:.2f} | {b['b1']} | {b['b64']}"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
