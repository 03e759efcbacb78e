"""A weighted ensemble of classifiers (trained checkpoints and the TF-IDF reference): a model like any other.

``<dir>/ensemble.json`` lists its members (``checkpoint``: a run's ``best.ckpt``; ``reference``: the reference's
``model.joblib``), their weights and the label names; member files sit under ``<dir>/members/``. Its prediction is
the weighted mean of the members' probabilities. A sweep whose winner is an ensemble or the reference writes one
into ``best/`` (a reference winner is an ensemble of one), and ``evaluate.py`` / ``predict.py`` take
``ckpt_path=<sweep>/best``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import torch
from omegaconf import OmegaConf
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

from attentune.errors import ConfigError
from attentune.tasks.checkpoint import load_run
from attentune.tasks.classification.reference import ReferenceModel
from attentune.tasks.classification.task import probabilities, relabel
from attentune.tasks.instantiate import instantiate

ENSEMBLE_FILE = "ensemble.json"


def ensemble_file(path: str | Path) -> Path | None:
    """The ensemble description that ``ckpt_path`` names (the file, or a directory holding it), else None."""
    path = Path(path)
    if path.is_dir() and (path / ENSEMBLE_FILE).is_file():
        return path / ENSEMBLE_FILE
    return path if path.name == ENSEMBLE_FILE and path.is_file() else None


@dataclass
class Member:
    name: str
    weight: float
    model: Any  # a ReferenceModel, or a model that ``probabilities`` takes (a LoadedRun, an exported OnnxRun)
    label_names: list[str]

    def probs(self, texts: list[str], batch_size: int) -> np.ndarray:
        if isinstance(self.model, ReferenceModel):
            return self.model.predict_proba(texts)
        return probabilities(self.model, texts, batch_size)


class Ensemble:
    """Weighted mean of its members' probabilities, each mapped to the ensemble's label order."""

    def __init__(self, members: list[Member], label_names: list[str], data: dict | None = None) -> None:
        self.members, self.label_names = members, list(label_names)
        self.data = data  # the data config it was selected on (evaluate.py's default dataset)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Shapes: (N, C) in ``label_names`` order."""
        total = np.zeros((len(texts), len(self.label_names)))
        for m in self.members:
            columns = [m.label_names.index(name) for name in self.label_names]
            total += m.weight * m.probs(list(texts), batch_size)[:, columns]
        return total / sum(m.weight for m in self.members)


def load_ensemble(path: Path, loaders: dict[str, Callable[[Path], Any]] | None = None) -> Ensemble:
    """The ensemble that ``path`` (``ensemble.json``) describes, its members loaded. ``loaders``: member kinds
    beyond ``checkpoint`` and ``reference`` (an export's ``onnx`` members), each returning a model that has
    ``label_names`` or ``info["label_names"]``."""
    try:
        spec = json.loads(path.read_text())
        members = []
        for m in spec["members"]:
            file = path.parent / m["path"]
            if m["kind"] in (loaders or {}):
                model = loaders[m["kind"]](file)
                names = getattr(model, "label_names", None) or model.info["label_names"]
                members.append(Member(m["name"], float(m["weight"]), model, list(names)))
            elif m["kind"] == "checkpoint":
                run = load_run(file)
                if run.task.name != "classification":
                    raise ConfigError(f"ckpt_path: ensemble member {m['name']} is a {run.task.name} checkpoint")
                members.append(Member(m["name"], float(m["weight"]), run, list(run.info["label_names"])))
            else:
                ref = joblib.load(file)  # written by our own sweep (a pickle: load only ensembles you made)
                members.append(Member(m["name"], float(m["weight"]), ref, list(ref.label_names)))
        return Ensemble(members, spec["label_names"], spec.get("data"))
    except (KeyError, TypeError, ValueError, FileNotFoundError) as exc:
        raise ConfigError(f"ckpt_path: {path} is not a readable ensemble ({type(exc).__name__}: {exc})") from None


def write_ensemble(out: Path, members: list[dict], label_names: list[str], data: dict, metrics: dict) -> None:
    """``members``: ``{"name", "kind", "weight", "path"}`` with ``path`` relative to ``out`` (files already there);
    ``data``: the resolved data config it was selected on."""
    out.mkdir(parents=True, exist_ok=True)
    spec = {"label_names": list(label_names), "members": members, "data": data, "metrics": metrics}
    (out / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def evaluate_ensemble(ensemble: Ensemble, data_cfg: Any, split: str, batch_size: int) -> dict[str, Any]:
    """``split`` of ``data_cfg`` (default: the data the ensemble was selected on): accuracy and macro F1."""
    dataset = relabel(instantiate(data_cfg or OmegaConf.create(ensemble.data), "data"), ensemble.label_names)
    part = getattr(dataset, split)
    probs = torch.from_numpy(ensemble.predict_proba(part.texts, batch_size))
    labels, n = torch.tensor(part.labels), len(ensemble.label_names)
    return {
        f"{split}/acc": float(multiclass_accuracy(probs, labels, n, average="micro")),
        f"{split}/f1_macro": float(multiclass_f1_score(probs, labels, n, average="macro")),
        "examples": len(part.texts),
        "members": {m.name: m.weight for m in ensemble.members},
    }
