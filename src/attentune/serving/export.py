"""``export(cfg)``: a checkpoint (a run, its best.ckpt, or a sweep's ``best/``) as a self-contained ONNX directory.

The graph is checked before the directory appears: on the whole test split (``parity_split``) onnxruntime's
predictions are compared with PyTorch's (probabilities within ``tolerance``, the same label for every example;
qa: the same decoded answers). With ``quantize=int8`` the int8 graph's size, agreement and test score are
measured against fp32's, and a drop of more than 0.5 points is said. The directory is built beside ``output`` and
renamed into place only when everything passed: a failed export leaves an earlier one untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attentune.errors import ConfigError
from attentune.serving.exported import CONFIG, FORMAT, GRAPHS, LABELS, TOKENIZER
from attentune.serving.graph import OPSET, export_graph, quantize_int8
from attentune.serving.parity import compare, describe
from attentune.serving.predictor import Predictor, load_predictor
from attentune.tasks.classification.ensemble import ENSEMBLE_FILE, ensemble_file
from attentune.tasks.task import tasks

FORMATS = ("onnx",)
QUANTIZE = (None, "int8")
INT8_DROP_POINTS = 0.5  # an int8 model that loses more test accuracy than this is said to


def check_options(fmt: Any, quantize: Any) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt}: unknown export format; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZE:
        raise ConfigError(f"quantize={quantize}: unknown quantization; choose int8 or leave it out (null)")


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export ``cfg.ckpt_path`` to ``cfg.output``; returns what ``config.json`` records (parity, int8, sizes)."""
    check_options(cfg.format, cfg.quantize)
    out = Path(cfg.output)
    if out.exists() and not cfg.overwrite:
        raise ConfigError(f"output: {out} exists; choose another directory or pass overwrite=true to replace it")

    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        file = ensemble_file(cfg.ckpt_path)
        if file is not None:
            from attentune.serving.ensemble import export_ensemble  # it exports each member with export_run

            report, spec_file = export_ensemble(file, staging, cfg), ENSEMBLE_FILE
        else:
            from attentune.tasks.checkpoint import load_run

            report, spec_file = export_run(load_run(cfg.ckpt_path), staging, cfg, str(cfg.ckpt_path)), CONFIG
        if cfg.parity:
            torch_model = load_predictor(cfg.ckpt_path, int(cfg.batch_size))
            report["parity"] = measure(torch_model, staging, cfg, report.get("model", "the ensemble"))
            write_config(staging, report, spec_file)
        if out.exists():  # overwrite=true, checked above: replaced only now that the new export is whole
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"export: {out} ({', '.join(sorted(p.name for p in out.iterdir()))})", file=sys.stderr)
    return report


def export_unchecked(ckpt_path: str | Path, out: Path, quantize: str | None) -> None:
    """``ckpt_path`` exported to ``out`` without the parity check (for a backend=onnx run of a checkpoint)."""
    spec = {"ckpt_path": str(ckpt_path), "format": "onnx", "quantize": quantize, "output": str(out)}
    export(OmegaConf.create(spec | {"overwrite": False, "parity": False}))


def export_run(run: Any, out: Path, cfg: DictConfig, source: str) -> dict[str, Any]:
    """One trained model (a ``LoadedRun``) into ``out``: graphs, tokenizer, labels, config."""
    out.mkdir(parents=True)
    span = run.task.name == "qa"
    export_graph(run.module.model, out / GRAPHS["fp32"], span, type(run.module.model).__name__)
    graphs = {"fp32": GRAPHS["fp32"]}
    if cfg.quantize == "int8":
        quantize_int8(out / GRAPHS["fp32"], out / GRAPHS["int8"])
        graphs["int8"] = GRAPHS["int8"]
    run.tokenizer.save(str(out / TOKENIZER))
    info = {k: v for k, v in run.info.items() if k not in ("tokenizer", "label_names")}
    if "label_names" in run.info:
        (out / LABELS).write_text(json.dumps(run.info["label_names"], ensure_ascii=False) + "\n")
    spec = {
        "format": FORMAT,
        "version": 1,
        "task": run.task.name,
        "model": type(run.module.model).__name__,
        "source": source,
        "opset": OPSET,
        "graphs": graphs,
        "default": "int8" if cfg.quantize == "int8" else "fp32",
        "sizes_mb": {g: round((out / f).stat().st_size / 2**20, 3) for g, f in graphs.items()},
        "info": info,
    }
    write_config(out, spec)
    return spec


def write_config(out: Path, spec: dict[str, Any], file: str = CONFIG) -> None:
    (out / file).write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")


def split_records(config: DictConfig, task: Any, split: str, limit: int | None) -> tuple[list[dict], Any]:
    """``split`` of the data a model was trained on, as input records and their scorer (``Task.records``)."""
    from attentune.tasks.instantiate import instantiate

    try:
        dataset = instantiate(config.data, "data")
    except Exception as exc:  # noqa: BLE001 - e.g. a user's CSV that has moved since training
        raise ConfigError(
            f"parity: the training data ({OmegaConf.select(config, 'data.name')}) cannot be read to check the export "
            f"({str(exc).splitlines()[0]}); pass parity=false to export without the check"
        ) from None
    records, score = task.records(dataset, split)
    return (records[:limit] if limit else records), score


def measure(torch_model: Predictor, out: Path, cfg: DictConfig, name: str) -> dict[str, Any]:
    """PyTorch (``torch_model``) against the graphs exported to ``out`` on ``cfg.parity_split``: a mismatch of fp32
    is an error (nothing is exported); int8 is measured and reported (its drop in score said past 0.5 points)."""
    task = tasks()[torch_model.task]
    records, score = split_records(
        OmegaConf.create({"data": torch_model.data}), task, cfg.parity_split, cfg.get("parity_limit")
    )
    torch_out = torch_model.predict(records)
    result: dict[str, Any] = {"split": cfg.parity_split, "examples": len(records), "score": {"torch": score(torch_out)}}
    for graph in ("fp32", "int8") if cfg.quantize == "int8" else ("fp32",):
        outputs = load_predictor(out, int(cfg.batch_size), "onnx", graph).predict(records)
        result[graph] = compare(torch_out, outputs, float(cfg.tolerance))
        result["score"][graph] = score(outputs)
        print(f"export: {graph} against PyTorch on {cfg.parity_split}: {describe(result[graph])}", file=sys.stderr)
        if graph == "fp32" and not result[graph]["ok"]:
            raise ConfigError(
                f"export: {name}'s ONNX graph does not reproduce PyTorch on {cfg.parity_split}: "
                f"{describe(result[graph])}"
            )
    scores = result["score"]
    print(
        f"export: {cfg.parity_split} score torch {scores['torch']:.4f}, onnx fp32 {scores['fp32']:.4f}", file=sys.stderr
    )
    if "int8" in scores:
        drop = 100 * (scores["fp32"] - scores["int8"])
        result["int8_drop_points"] = round(drop, 3)
        print(f"export: int8 {scores['int8']:.4f} ({-drop:+.2f} points against fp32)", file=sys.stderr)
        if drop > INT8_DROP_POINTS:
            print(
                f"warning: int8 loses {drop:.2f} points of {cfg.parity_split} score (more than {INT8_DROP_POINTS}): "
                "serve the fp32 graph (quantize=fp32) where that matters",
                file=sys.stderr,
            )
    return result
