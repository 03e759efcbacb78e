"""``train(cfg) -> metrics``: one training run, used by ``src/train.py`` and by every tuning trial."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from attentune.errors import ConfigError
from attentune.reports.summary import metrics_table, next_steps
from attentune.tasks.build import finish_wandb, make_trainer, to_plain
from attentune.tasks.distributed import end_process_group, refuse_relaunch_under_multirun, wait_for
from attentune.tasks.latency import measure_latency
from attentune.tasks.prepare import RunData
from attentune.tasks.runconfig import apply_example_budget, validate_config
from attentune.tasks.task import task_of
from attentune.tasks.tracking import log_run_facts, name_runs
from attentune.tokenization import Collator

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
TOKENIZER_FILE = "tokenizer.json"


def train(
    cfg: DictConfig,
    callbacks: list[L.Callback] | None = None,
    resume_from: str | Path | None = None,
    trainer_args: dict | None = None,
    data: RunData | None = None,
) -> dict[str, float]:
    """Train, test the best checkpoint, write the run directory; return the metrics.

    The run directory (``cfg.paths.output_dir``) ends up holding ``config.yaml``, ``tokenizer.json``,
    ``checkpoints/best.ckpt`` and ``metrics.json``. ``callbacks`` are added to the configured ones
    (the tuner adds its reporter); ``resume_from`` continues from a full training-state checkpoint;
    ``trainer_args`` replace the configured Trainer arguments (a DDP trial's Ray Train strategy and environment);
    ``data`` is where the dataset and tokenizer come from (a tuning worker's memo).
    """
    out = Path(cfg.paths.output_dir)
    if (out / METRICS_FILE).exists():
        raise ConfigError(f"paths.output_dir: {out} already holds a finished run; choose another hydra.run.dir")
    validate_config(cfg)
    task = task_of(cfg)
    data = data or RunData()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dataset = data.dataset(cfg)
    apply_example_budget(cfg, len(dataset.train))
    name_runs(cfg, dataset.name, task.name)
    trainer = make_trainer(cfg, extra_callbacks=[*(callbacks or []), *task.callbacks(out)], **(trainer_args or {}))
    refuse_relaunch_under_multirun(trainer)
    writer = trainer.is_global_zero  # DDP: rank 0 alone trains the tokenizer and writes the run directory

    run_info = {"config": to_plain(cfg)}
    prepared = data.prepare(cfg, dataset, None if writer else wait_for(out / TOKENIZER_FILE))
    setup = task.setup(cfg, prepared, run_info)
    sizes = {f"data.n_{split}": len(examples) for split, examples in dataset.splits().items()}
    num_params = sum(p.numel() for p in setup.module.model.parameters())
    log_run_facts(trainer.loggers, cfg, {"num_params": num_params, "data.name": dataset.name, **sizes})
    datamodule, module, model = setup.datamodule, setup.module, setup.module.model
    if writer:
        out.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, out / "config.yaml", resolve=True)
        setup.tokenizer.save(str(out / TOKENIZER_FILE))

    start = time.perf_counter()
    # Our own full-state checkpoint (optimizer, loops, callbacks): not a weights-only file.
    trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from, weights_only=False if resume_from else None)
    train_seconds = time.perf_counter() - start
    val_best = trainer.callback_metrics.get(task.best)  # the module's own best of its headline metric

    checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)), None)
    best_path = checkpoint.best_model_path if checkpoint else ""
    own_score = checkpoint.best_model_score if checkpoint and best_path else None
    best_score = own_score if own_score is not None else val_best
    if best_score is None and resume_from:  # resumed at the last epoch: nothing trained, score the weights
        (validated,) = trainer.validate(module, datamodule=datamodule, verbose=False)
        best_score = validated.get(cfg.monitor.metric)
        val_best = validated.get(task.best.removesuffix("_best"))
    # fast_dev_run and checkpoint-less configs test the final weights.
    fitted = trainer
    if trainer.world_size > 1:
        end_process_group()
        if not writer:
            return {}
        # rank 0 tests alone: every test example once (a distributed sampler pads the shards)
        trainer = make_trainer(cfg, devices=1, num_nodes=1, strategy="auto", callbacks=[], logger=trainer.loggers)
    (test_metrics,) = trainer.test(  # verbose=False: the metrics are printed once, in our table below
        module, datamodule=datamodule, ckpt_path=best_path or None, weights_only=True, verbose=False
    )

    metrics = {
        **{k: float(v) for k, v in test_metrics.items()},
        task.best: float(val_best) if val_best is not None else float("nan"),
        # The monitored metric at the best checkpoint (the tuner ranks trials by it).
        f"{cfg.monitor.metric}_best": float(best_score) if best_score is not None else float("nan"),
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 3),
        "epochs": fitted.current_epoch,
        "device": str(fitted.strategy.root_device),  # latency and train time depend on it
        "processes": fitted.world_size,
        "train_tokens": datamodule.num_tokens("train"),
        "best_checkpoint": best_path,
    }
    if cfg.get("latency"):
        metrics |= measure_latency(model, setup.latency_examples(), Collator(pad_id=0), cfg.latency.batch_sizes)
    finish_wandb(trainer, metrics)
    write_json(out / METRICS_FILE, metrics)
    log.info("metrics (%s):\n%s", out / METRICS_FILE, metrics_table(metrics))
    if best_path:
        log.info("%s", next_steps(Path(best_path), task.name))
    return metrics


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)
