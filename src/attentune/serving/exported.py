"""An export directory (``export.py``'s output) read back: a model that predicts with onnxruntime alone.

One trained model exports to::

    model.onnx        the model: input_ids, attention_mask (qa: token_type_ids) -> logits, dynamic batch and length
    model.int8.onnx   with quantize=int8: the same graph, weights dynamically quantized
    tokenizer.json    the run's tokenizer
    labels.json       classification: the label names, in the logits' order
    config.json       the task, the training config and what prediction needs (qa: the no-answer threshold),
                      which graph is the default, and the parity and int8 numbers measured at export

An ensemble (or a reference winner) exports to ``ensemble.json`` and ``members/<name>/``, one such directory per
member (the TF-IDF reference: ``vectorizer.joblib`` and ``linear.onnx``, see ``serving.reference``).
No PyTorch checkpoint is read: ``predict.py ckpt_path=export/ backend=onnx`` and ``serve.py`` need only these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.tasks.task import Task, task_of

FORMAT = "attentune-export"
CONFIG, TOKENIZER, LABELS = "config.json", "tokenizer.json", "labels.json"
GRAPHS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


def is_export(path: str | Path) -> bool:
    """Whether ``path`` is an export directory of one model (its ``config.json`` says so)."""
    file = Path(path) / CONFIG
    try:
        return file.is_file() and json.loads(file.read_text()).get("format") == FORMAT
    except ValueError:
        return False


def graphs_of(path: Path) -> list[str]:
    """The graphs ("fp32", "int8") an export directory holds; an ensemble's: those every trained member holds."""
    if is_export(path):
        return list(json.loads((path / CONFIG).read_text())["graphs"])
    spec = json.loads((path / "ensemble.json").read_text())
    held = [set(graphs_of(path / m["path"])) for m in spec["members"] if m["kind"] == "onnx"]
    return [g for g in GRAPHS if all(g in h for h in held)]


def session(file: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session on ``file``; ``threads``: intra-op threads (None: onnxruntime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


@dataclass
class OnnxRun:
    """An exported model, as a task predicts with it (the same fields a ``LoadedRun`` offers tasks)."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Tokenizer
    config: DictConfig
    info: dict[str, Any]
    task: Task
    graph: str  # which graph: "fp32" or "int8"

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        """Shapes: (B, T) each -> (B, C), or (B, T, 2) for span heads; the graph's own inputs only."""
        feed = {"input_ids": input_ids, "attention_mask": attention_mask.bool(), "token_type_ids": token_type_ids}
        names = [i.name for i in self.session.get_inputs()]
        out = self.session.run(None, {n: np.ascontiguousarray(feed[n].numpy()) for n in names})[0]
        return torch.from_numpy(out).float()


def read_config(path: Path) -> dict[str, Any]:
    """``path/config.json`` after checking that every file it names is there: one line naming what is missing."""
    if not (path / CONFIG).is_file():
        raise ConfigError(f"ckpt_path: {path} has no {CONFIG}: not an export directory (python src/export.py)")
    try:
        spec = json.loads((path / CONFIG).read_text())
    except ValueError as exc:
        raise ConfigError(f"ckpt_path: {path / CONFIG} is not JSON ({exc})") from None
    if spec.get("format") != FORMAT:
        raise ConfigError(f"ckpt_path: {path / CONFIG} is not an attentune export (format {spec.get('format')!r})")
    needed = [TOKENIZER, *spec["graphs"].values()] + ([LABELS] if spec["task"] == "classification" else [])
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        raise ConfigError(f"ckpt_path: {path} lacks {', '.join(missing)}: the export is incomplete; export it again")
    return spec


def load_export(path: str | Path, graph: str | None = None, threads: int | None = None) -> OnnxRun:
    """The model exported to ``path``; ``graph`` "fp32" / "int8" (None: the export's default)."""
    path = Path(path)
    spec = read_config(path)
    graph = graph or spec["default"]
    if graph not in spec["graphs"]:
        have = ", ".join(spec["graphs"])
        raise ConfigError(f"quantize={graph}: {path} holds {have} only; export with quantize={graph} to add it")
    info = dict(spec["info"])
    try:
        tokenizer = Tokenizer.from_file(str(path / TOKENIZER))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise ConfigError(f"ckpt_path: {path / TOKENIZER} is not a tokenizer ({str(exc).splitlines()[0]})") from None
    run_session = session(path / spec["graphs"][graph], threads)
    if spec["task"] == "classification":
        info["label_names"] = json.loads((path / LABELS).read_text())
        classes = run_session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(info["label_names"]):
            raise ConfigError(
                f"ckpt_path: {path / LABELS} names {len(info['label_names'])} labels but the model has {classes} "
                "outputs: the files are from different exports"
            )
    config = OmegaConf.create(info["config"])
    return OnnxRun(run_session, tokenizer, config, info, task_of(config), graph)
