"""A predictor: any model a user can point at (a run, a sweep's ``best/`` ensemble, an export directory) behind one
``predict(records) -> outputs`` function, on either backend. ``predict.py``, ``serve.py`` and the benchmark use it.

``backend=torch`` runs the PyTorch checkpoint; ``backend=onnx`` runs an export directory with onnxruntime, or
exports a checkpoint first (into a temporary directory, without the parity check). ``quantize`` picks the export's
graph: null its default, ``fp32``, or ``int8``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attentune.errors import ConfigError, DataError
from attentune.serving.exported import FORMAT, is_export, load_export
from attentune.tasks.classification.ensemble import ensemble_file, load_ensemble
from attentune.tasks.classification.task import Classification, label_records

FIELDS = ("text", "question", "context")
BACKENDS = ("torch", "onnx")
GRAPHS = (None, "fp32", "int8")


@dataclass
class Predictor:
    """What a model needs from its inputs, what it adds, and the model."""

    task: str
    inputs: tuple[str, ...]
    outputs: dict[str, type]
    predict: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    backend: str = "torch"
    data: Any = None  # the data config the model was trained (an ensemble: selected) on
    cleanup: list[Path] = field(default_factory=list)  # temporary exports, removed by close()

    def close(self) -> None:
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def check_backend(backend: Any, quantize: Any) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend}: unknown backend; choose one of {', '.join(BACKENDS)}")
    if quantize not in GRAPHS:
        raise ConfigError(f"quantize={quantize}: unknown graph; choose fp32 or int8, or leave it out (null)")
    if quantize is not None and backend != "onnx":
        raise ConfigError(f"quantize={quantize} needs backend=onnx (it picks the exported graph)")


def exported(path: Path) -> bool:
    """Whether ``path`` is an export directory: one model, or an ensemble whose ``ensemble.json`` says so."""
    if is_export(path):
        return True
    file = ensemble_file(path)
    try:
        return file is not None and json.loads(file.read_text()).get("format") == FORMAT
    except ValueError:
        return False


def load_predictor(
    ckpt_path: str | Path, batch_size: int, backend: str = "torch", quantize: str | None = None, threads: int = 0
) -> Predictor:
    """The predictor of ``ckpt_path`` on ``backend``; ``threads``: onnxruntime's intra-op threads (0: its choice)."""
    check_backend(backend, quantize)
    path = Path(ckpt_path)
    if backend == "torch":
        if exported(path):
            raise ConfigError(f"ckpt_path: {path} is an ONNX export (no PyTorch checkpoint inside): pass backend=onnx")
        from attentune.tasks.checkpoint import load_run

        return _predictor(path, batch_size, "torch", load_run, {})
    cleanup = []
    if not exported(path):
        from attentune.serving.export import export_unchecked

        cleanup.append(Path(tempfile.mkdtemp(prefix="attentune-onnx-")))
        export_unchecked(path, cleanup[0] / "export", "int8" if quantize == "int8" else None)
        path = cleanup[0] / "export"
    load = lambda file: load_export(file, quantize, threads or None)  # noqa: E731
    predictor = _predictor(path, batch_size, "onnx", load, {"onnx": load, "reference-onnx": _load_reference})
    predictor.cleanup = cleanup
    return predictor


def _predictor(
    path: Path, batch_size: int, backend: str, load: Callable[[Path], Any], members: dict[str, Callable[[Path], Any]]
) -> Predictor:
    """``load``: one model (a ``LoadedRun`` or an ``OnnxRun``); ``members``: an ensemble's member kinds beyond the
    checkpoint and reference ones that ``load_ensemble`` knows."""
    ensemble = ensemble_file(path)
    if ensemble is not None:
        model = load_ensemble(ensemble, members)

        def predict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
            probs = model.predict_proba([r["text"] for r in records], batch_size)
            return label_records(probs.tolist(), model.label_names)

        outputs = Classification().outputs({"label_names": model.label_names})
        return Predictor("classification", ("text",), outputs, predict, backend, model.data)
    run = load(path)
    return Predictor(
        run.task.name,
        run.task.inputs,
        run.task.outputs(run.info),
        lambda rs: run.task.predict(run, rs, batch_size),
        backend,
        run.config.get("data"),
    )


def _load_reference(path: Path) -> Any:
    from attentune.serving.reference import load_reference

    return load_reference(path)


def check_record(record: dict[str, Any], fields: tuple[str, ...], task: str, where: str) -> None:
    missing = [f for f in fields if not isinstance(record.get(f), str) or not record[f].strip()]
    foreign = [f for f in FIELDS if f not in fields and record.get(f) is not None]
    if foreign or missing:
        need = " and ".join(f"{f}=..." for f in fields)
        what = f"gives {', '.join(foreign)}" if foreign else f"has no {', '.join(missing)}"
        raise DataError(f"{where} {what}: this checkpoint is a {task} model; it needs {need}")
