"""``predict.py benchmark=true``: milliseconds per example at batch 1 and 64 for torch, onnx fp32 and onnx int8,
each graph's size, and each backend's test score (int8's change against fp32 said when over 0.5 points).

The inputs are the records of ``benchmark_options.split`` of the data the model was trained on; every backend
runs the same records, with the same number of threads (torch's, which ``OMP_NUM_THREADS`` sets). A checkpoint is
exported to a temporary directory first (fp32 and int8); an export directory is timed as it is (no torch row).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from attentune.serving.export import INT8_DROP_POINTS, export_unchecked, split_records
from attentune.serving.exported import graphs_of
from attentune.serving.predictor import Predictor, exported, load_predictor
from attentune.tasks.task import tasks


def benchmark(cfg: DictConfig) -> dict[str, Any]:
    path, bench = Path(cfg.ckpt_path), cfg.benchmark_options
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="attentune-bench-") as tmp:
        rows: dict[str, Predictor] = {}
        if not exported(path):
            rows["torch"] = load_predictor(path, int(cfg.batch_size))
            onnx_dir = Path(tmp) / "export"
            export_unchecked(path, onnx_dir, "int8")
        else:
            onnx_dir = path
        graphs = graphs_of(onnx_dir)
        for graph in graphs:
            rows[f"onnx {graph}"] = load_predictor(onnx_dir, int(cfg.batch_size), "onnx", graph, threads)
        first = next(iter(rows.values()))
        task = tasks()[first.task]
        records, score = split_records(OmegaConf.create({"data": first.data}), task, bench.split, None)
        result: dict[str, Any] = {"examples": len(records), "threads": threads, "backends": {}}
        for name, predictor in rows.items():
            outputs = predictor.predict(records)
            timing = {f"b{b}": _latency(predictor, records, b, int(bench.calls)) for b in bench.batch_sizes}
            result["backends"][name] = {"score": round(score(outputs), 4), **timing}
        sizes = _sizes(onnx_dir)
        for name, size in sizes.items():
            result["backends"].setdefault(name, {})["size_mb"] = size
    _print(result, bench.split)
    return result


def _latency(predictor: Predictor, records: list[dict], batch: int, calls: int) -> dict[str, float]:
    """Milliseconds per example over ``calls`` calls of ``batch`` records (after two warm-up calls)."""
    batches = [records[(i * batch) % max(1, len(records) - batch) :][:batch] for i in range(calls + 2)]
    times = []
    for i, part in enumerate(batches):
        start = time.perf_counter()
        predictor.predict(part)
        if i >= 2:
            times.append(1000 * (time.perf_counter() - start) / len(part))
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}


def _sizes(onnx_dir: Path) -> dict[str, float]:
    sizes = {}
    for graph, name in (("fp32", "model.onnx"), ("int8", "model.int8.onnx")):
        files = list(onnx_dir.rglob(name))
        if files:
            sizes[f"onnx {graph}"] = round(sum(f.stat().st_size for f in files) / 2**20, 3)
    return sizes


def _print(result: dict[str, Any], split: str) -> None:
    names = list(result["backends"])
    sizes = [b for b in next(iter(result["backends"].values())) if b.startswith("b")]
    head = ["backend", f"{split} score", "MB"] + [f"{b} {q}" for b in sizes for q in ("p50 ms", "p95 ms")]
    lines = [" | ".join(head)]
    for name in names:
        row = result["backends"][name]
        size = f"{row['size_mb']:.2f}" if "size_mb" in row else "-"  # torch: the checkpoint holds more than weights
        cells = [name, f"{row.get('score', float('nan')):.4f}", size]
        cells += [f"{row[b][q]:.3f}" for b in sizes for q in ("p50_ms", "p95_ms")]
        lines.append(" | ".join(cells))
    print(f"benchmark: {result['examples']} {split} examples, {result['threads']} thread(s), ms per example")
    print("\n".join(lines))
    fp32, int8 = result["backends"].get("onnx fp32", {}), result["backends"].get("onnx int8", {})
    if "score" in fp32 and "score" in int8:
        drop = 100 * (fp32["score"] - int8["score"])
        said = f" (more than {INT8_DROP_POINTS}: serve fp32 where that matters)" if drop > INT8_DROP_POINTS else ""
        print(f"int8 against fp32: {-drop:+.2f} points{said}")
