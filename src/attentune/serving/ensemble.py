"""A sweep's ensemble ``best/`` (or its reference winner, an ensemble of one) exported: one directory per member.

``ensemble.json`` keeps the members' weights, the label names and the data it was selected on; each trained member
is an export directory of its own (``members/<name>/``, as ``export_run`` writes), the TF-IDF reference is its
vectorizer and linear graph (``serving.reference``). Loading it back gives the same ``Ensemble`` as the torch side.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from attentune.serving.export import export_run, write_config
from attentune.serving.exported import FORMAT
from attentune.serving.reference import export_reference
from attentune.tasks.classification.ensemble import ENSEMBLE_FILE, load_ensemble
from attentune.tasks.classification.reference import ReferenceModel


def export_ensemble(file: Path, out: Path, cfg: DictConfig) -> dict[str, Any]:
    spec = json.loads(file.read_text())
    ensemble = load_ensemble(file)
    out.mkdir(parents=True)
    members = []
    for entry, member in zip(spec["members"], ensemble.members, strict=True):
        folder = f"members/{re.sub(r'[^A-Za-z0-9_.-]', '_', member.name)}"
        if isinstance(member.model, ReferenceModel):
            export_reference(member.model, out / folder)
            kind = "reference-onnx"
        else:
            export_run(member.model, out / folder, cfg, source=str(file.parent / entry["path"]))
            kind = "onnx"
        members.append({"name": member.name, "kind": kind, "weight": member.weight, "path": folder})
    report = {"format": FORMAT, "version": 1, "source": str(file), "label_names": ensemble.label_names}
    report |= {"members": members, "data": spec.get("data"), "metrics": spec.get("metrics")}
    write_config(out, report, ENSEMBLE_FILE)
    return report
