"""The task's reference row (classification: TF-IDF + linear SVM; QA: lexical overlap) on each dataset of a sweep.

Computed once per distinct data config and cached in ``<sweep>/reference.json``; the planner asks for it before
the first study (its validation score is what the families' chances are updated against), selection ranks it as
a candidate like any trial, and a classification reference keeps its model and predictions under
``<sweep>/reference/<key>/`` so that it can be an ensemble member or the winner.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import OmegaConf

from attentune.tasks.instantiate import instantiate
from attentune.tasks.task import task_of
from attentune.tasks.train import write_json

REFERENCE_FILE = "reference.json"
REFERENCE_DIR = "reference"


def reference_of(base: dict, out: Path) -> dict:
    """The reference row for the data of ``base`` (a study's training config), computed once per sweep."""
    cache_file = out / REFERENCE_FILE
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    data = OmegaConf.create(base).data  # interpolations (paths.cache_dir) resolve in the whole config
    key = json.dumps(OmegaConf.to_container(data, resolve=True), sort_keys=True)
    if key not in cache:
        dataset = instantiate(data, "data")
        files = out / REFERENCE_DIR / hashlib.sha1(key.encode()).hexdigest()[:10]
        row = task_of(OmegaConf.create(base)).reference(dataset, files)
        cache[key] = {"study": f"reference ({dataset.name})", **row, "dir": str(files.resolve())}
        out.mkdir(parents=True, exist_ok=True)
        write_json(cache_file, cache)
    return cache[key]


def references(studies: list[dict], out: Path) -> list[dict]:
    """The reference row of each distinct dataset of the sweep's studies."""
    refs = []
    for s in studies:
        if s["base"] is None:  # a study whose job failed before it wrote its training config
            continue
        ref = reference_of(s["base"], out)
        if ref not in refs:
            refs.append(ref)
    return refs
