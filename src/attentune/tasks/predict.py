"""``predict(cfg) -> records``: a checkpoint's predictions for inputs given on the command line or in a JSONL file.

The checkpoint's task says which fields an input needs (classification: ``text``; qa: ``question`` and
``context``); inputs for another task (a question for a classifier, a text for a QA model) are a one-line error,
as is a JSONL line that is not a JSON object with those fields (named by its line number). Nothing is written
unless every input is valid; the output file is replaced whole (written next to it, then renamed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from attentune.data.tables import read_jsonl
from attentune.errors import ConfigError, DataError
from attentune.tasks.checkpoint import load_run
from attentune.tasks.classification.ensemble import ensemble_file, load_ensemble
from attentune.tasks.classification.task import label_records

FIELDS = ("text", "question", "context")


def predict(cfg: DictConfig) -> list[dict[str, Any]]:
    given = {f: cfg.get(f) for f in FIELDS if cfg.get(f) is not None}
    if cfg.input and given:
        raise ConfigError(f"give input=<file.jsonl> or {'/'.join(given)}=..., not both")
    ensemble = ensemble_file(cfg.ckpt_path)
    run = None if ensemble is not None else load_run(cfg.ckpt_path)
    name, inputs = ("classification", ("text",)) if run is None else (run.task.name, run.task.inputs)
    records = read_records(Path(cfg.input), inputs) if cfg.input else [given]
    if not cfg.input:
        check_record(given, inputs, name, "the command line")
    if run is None:
        model = load_ensemble(ensemble)
        probs = model.predict_proba([r["text"] for r in records], int(cfg.batch_size))
        predictions = label_records(probs.tolist(), model.label_names)
    else:
        predictions = run.task.predict(run, records, int(cfg.batch_size))
    lines = [json.dumps(p, ensure_ascii=False) for p in predictions]
    if cfg.output:
        out = Path(cfg.output)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp.replace(out)
    else:
        print("\n".join(lines))
    return predictions


def check_record(record: dict[str, Any], fields: tuple[str, ...], task: str, where: str) -> None:
    missing = [f for f in fields if not isinstance(record.get(f), str) or not record[f].strip()]
    foreign = [f for f in FIELDS if f not in fields and record.get(f) is not None]
    if foreign or missing:
        need = " and ".join(f"{f}=..." for f in fields)
        what = f"gives {', '.join(foreign)}" if foreign else f"has no {', '.join(missing)}"
        raise DataError(f"{where} {what}: this checkpoint is a {task} model; it needs {need}")


def read_records(path: Path, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"input: no such file: {path}")
    records = []
    for n, record in read_jsonl(path, "input"):
        where = f"{path}: line {n}" + (f" (id {record['id']})" if "id" in record else "")
        check_record(record, fields, "qa" if "question" in fields else "classification", where)
        records.append(record)
    if not records:
        raise DataError(f"{path}: no records")
    return records
