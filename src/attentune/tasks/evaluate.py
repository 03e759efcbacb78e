"""``evaluate(cfg) -> metrics``: re-score a checkpoint on its own dataset or another one (``data=``)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from attentune.data.datamodule import TextDataModule
from attentune.data.types import Split, TextDataset
from attentune.errors import ConfigError, DataError
from attentune.tasks.build import make_trainer, resolve_precision
from attentune.tasks.checkpoint import load_run
from attentune.tasks.instantiate import instantiate
from attentune.tasks.prepare import encoder_of
from attentune.tasks.train import METRICS_FILE, write_json
from attentune.tokenization import Collator

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def relabel(dataset: TextDataset, label_names: list[str]) -> TextDataset:
    """Express ``dataset``'s labels as indices into the checkpoint's ``label_names``."""
    index = {name: i for i, name in enumerate(label_names)}
    unknown = sorted(set(dataset.label_names) - set(index))
    if unknown:
        raise DataError(f"data: labels {unknown} were never seen by this checkpoint (it knows {label_names})")
    mapping = [index[name] for name in dataset.label_names]

    def remap(split: Split) -> Split:
        return dataclasses.replace(split, labels=[mapping[y] for y in split.labels])

    return dataclasses.replace(
        dataset,
        train=remap(dataset.train),
        val=remap(dataset.val),
        test=remap(dataset.test),
        label_names=list(label_names),
    )


def evaluate(cfg: DictConfig) -> dict[str, float]:
    if cfg.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    run = load_run(cfg.ckpt_path)
    data_cfg = cfg.get("data") or run.config.data
    dataset = relabel(instantiate(data_cfg, "data"), run.label_names)
    datamodule = TextDataModule(dataset, encoder_of(run.tokenizer), Collator(pad_id=0), eval_batch_size=cfg.batch_size)
    # the run's own precision unless given: a checkpoint re-scored as its run tested it (bf16 moves the numbers)
    precision = resolve_precision(cfg.trainer.precision or run.config.trainer.precision, cfg.trainer.accelerator)
    trainer = make_trainer(cfg, logger=False, callbacks=[], enable_progress_bar=False, precision=precision)
    (raw,) = trainer.test(run.module, dataloaders=datamodule.loader(cfg.split), verbose=False)
    metrics = {k.replace("test/", f"{cfg.split}/"): float(v) for k, v in raw.items()}
    metrics["examples"] = len(getattr(dataset, cfg.split))
    metrics["precision"] = precision
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / METRICS_FILE, metrics)
    print(json.dumps(metrics, indent=2))
    return metrics
