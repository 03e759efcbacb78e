"""``evaluate(cfg) -> metrics``: re-score a checkpoint on its own dataset or another one (``data=``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from attentune.errors import ConfigError
from attentune.tasks.build import make_trainer, resolve_precision
from attentune.tasks.checkpoint import load_run
from attentune.tasks.classification.ensemble import ensemble_file, evaluate_ensemble, load_ensemble
from attentune.tasks.instantiate import instantiate
from attentune.tasks.train import METRICS_FILE, write_json

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def evaluate(cfg: DictConfig) -> dict[str, float]:
    if cfg.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    ensemble = ensemble_file(cfg.ckpt_path)
    if ensemble is not None:
        return _report(cfg, evaluate_ensemble(load_ensemble(ensemble), cfg.get("data"), cfg.split, cfg.batch_size))
    run = load_run(cfg.ckpt_path)
    data_cfg = cfg.get("data") or run.config.data
    dataset = instantiate(data_cfg, "data")
    datamodule = run.task.evaluation_data(run, dataset, cfg.split, cfg.batch_size)
    # the run's own precision unless given: a checkpoint re-scored as its run tested it (bf16 moves the numbers)
    precision = resolve_precision(cfg.trainer.precision or run.config.trainer.precision, cfg.trainer.accelerator)
    trainer = make_trainer(cfg, logger=False, callbacks=[], enable_progress_bar=False, precision=precision)
    (raw,) = trainer.test(run.module, datamodule=datamodule, verbose=False)
    metrics = {k.replace("test/", f"{cfg.split}/"): float(v) for k, v in raw.items()}
    metrics["examples"] = len(dataset.splits()[cfg.split])
    metrics["precision"] = precision
    return _report(cfg, metrics)


def _report(cfg: DictConfig, metrics: dict) -> dict:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / METRICS_FILE, metrics)
    print(json.dumps(metrics, indent=2))
    return metrics
