"""Turn a composed config into the objects of a run: validation, tokenizer, model, trainer.

Shared by training, evaluation and the tuner so that a trial is exactly a training run.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, ListConfig, OmegaConf
from tokenizers import Tokenizer
from torch import nn

from attentune.data.types import TextDataset
from attentune.errors import ConfigError
from attentune.lit.schedules import WarmupDecay
from attentune.tasks.distributed import SyncEpochMetrics
from attentune.tasks.instantiate import instantiate
from attentune.tokenization import build_tokenizer
from attentune.tokenization.tokenizer import validate_tokenizer_config

log = logging.getLogger(__name__)

# `${mul:${heads},${head_dim}}`: derived sizes in configs and search spaces (heads always divide d_model).
OmegaConf.register_new_resolver("mul", lambda *xs: math.prod(xs), replace=True)
# `${div:1,${rounds_per_epoch}}`: the fraction of the training set in one tuning round (conf/tune.yaml).
OmegaConf.register_new_resolver("div", lambda a, b: a / b, replace=True)


def validate_config(cfg: DictConfig) -> None:
    """Fail on bad config values before any data is read (one-line ConfigError each)."""
    opt = cfg.optimizer
    if not opt.lr > 0:
        raise ConfigError(f"optimizer.lr must be > 0, got {opt.lr}")
    if opt.get("weight_decay", 0.0) < 0:
        raise ConfigError(f"optimizer.weight_decay must be >= 0, got {opt.weight_decay}")
    if cfg.batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {cfg.batch_size}")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1), got {cfg.label_smoothing}")
    if not 0.0 <= cfg.lr_schedule.warmup_ratio < 1.0:
        raise ConfigError(f"lr_schedule.warmup_ratio must be in [0, 1), got {cfg.lr_schedule.warmup_ratio}")
    if cfg.get("max_train_examples") is not None and not cfg.max_train_examples > 0:
        raise ConfigError(f"max_train_examples must be > 0 (or null), got {cfg.max_train_examples}")
    examples_per_run(cfg.get("train_examples"), 1)  # raises on a bad value
    WarmupDecay(cfg.lr_schedule.name, 0, 1)
    validate_tokenizer_config(cfg.tokenizer.kind, cfg.tokenizer.vocab_size, cfg.max_length)
    with torch.device("meta"):  # builds no weights: just the model's own config validation
        instantiate(cfg.model, "model", vocab_size=cfg.tokenizer.vocab_size, num_classes=2)


def make_tokenizer(cfg: DictConfig, dataset: TextDataset) -> Tokenizer:
    t = cfg.tokenizer
    return build_tokenizer(
        dataset.tokenizer_texts(),
        kind=t.kind,
        vocab_size=t.vocab_size,
        lowercase=t.lowercase,
        min_frequency=t.min_frequency,
        max_length=cfg.max_length,
    )


def make_model(model_cfg: DictConfig, vocab_size: int, num_classes: int, vocab: dict | None = None) -> nn.Module:
    """Instantiate a model of any family; initialise pretrained embeddings when its config asks."""
    model = instantiate(model_cfg, "model", vocab_size=vocab_size, num_classes=num_classes)
    if vocab is not None and model_cfg.get("pretrained_embeddings"):
        found = model.init_embeddings(vocab)
        log.info("initialised %d/%d embeddings from %s", found, vocab_size, model_cfg.pretrained_embeddings)
    return model


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto`` -> bf16-mixed where the hardware runs bf16 natively, else 32-true."""
    if str(precision) != "auto":
        return str(precision)
    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_supports_bf16() else "32-true"


def make_callbacks(cfg: DictConfig) -> list[L.Callback]:
    nodes = cfg.get("callbacks") or {}
    return [instantiate(node, f"callbacks.{name}") for name, node in nodes.items() if node is not None]


def make_loggers(cfg: DictConfig) -> list[Any]:
    nodes = cfg.get("logger") or {}
    if "wandb" in nodes:
        os.environ.setdefault("WANDB_MODE", "offline")  # offline unless the user chose otherwise
    return [instantiate(node, f"logger.{name}") for name, node in nodes.items() if node is not None]


def examples_per_run(budget: Any, train_size: int) -> int | None:
    """The training examples a run's ``train_examples`` asks for on a training set of ``train_size``: a number,
    or ``[at_least, at_most]``: one pass over the set, but no fewer and no more examples than these (MiniLM's
    default, [8000, 32000]: one pass over mr or a 30k set, two over trec, 32000 of a 100k set). None: no budget."""
    if budget is None:
        return None
    if isinstance(budget, (int, float)) and not isinstance(budget, bool) and budget > 0:
        return int(budget)
    bounds = list(budget) if isinstance(budget, (list, tuple, ListConfig)) else []
    if (
        len(bounds) != 2
        or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        or not (0 < bounds[0] <= bounds[1])
    ):
        raise ConfigError(
            f"train_examples must be a number > 0, [at_least, at_most] with 0 < at_least <= at_most, or null; "
            f"got {OmegaConf.to_container(budget) if isinstance(budget, ListConfig) else budget!r}"
        )
    return min(max(train_size, bounds[0]), bounds[1])


def apply_example_budget(cfg: DictConfig, train_size: int) -> None:
    """Turn ``train_examples`` (when set: see ``examples_per_run``) into passes over a training set of ``train_size``.

    A budget of at least one training set makes ``round(train_examples / train_size)`` whole passes, so one
    fine-tuning budget suits datasets of different sizes (8000 examples: one pass over mr, two over trec).
    A smaller budget makes one partial pass: each epoch draws ``train_examples`` of a fresh shuffle (8000 of
    a 50k set), so the run's cost follows the budget, not the data size. In a tuning config the passes are
    its ``epochs`` (``trainer.max_epochs`` counts rounds and follows); otherwise ``trainer.max_epochs``.

    Without ``train_examples``, ``max_train_examples`` (when set) caps the planned passes instead: at most
    ``max_train_examples / train_size`` of them (at least one, partial when the set is larger still), so a
    tuning trial's cost stops growing with the data (tune.yaml: 100000, i.e. fewer than 6 passes above 16.7k).
    """
    planned = cfg.epochs if "epochs" in cfg else cfg.trainer.max_epochs
    examples = examples_per_run(cfg.get("train_examples"), train_size)
    if examples:
        passes = examples / train_size
        whole = max(1, round(passes))
    elif cfg.get("max_train_examples") and planned * train_size > cfg.max_train_examples:
        passes = cfg.max_train_examples / train_size
        whole = max(1, math.floor(passes))
    else:
        return
    if "epochs" in cfg:
        cfg.epochs = whole
    else:
        cfg.trainer.max_epochs = whole
    if passes < 1:
        rounds = cfg.get("rounds_per_epoch") or 1
        cfg.trainer.limit_train_batches = passes / rounds


def finish_wandb(trainer: L.Trainer, metrics: dict) -> None:
    """Close the run's W&B run (Lightning leaves it open), with ``metrics`` (test, size, latency) in its summary.

    A failure here is logged, never raised: the run's results (and any exception of its own) matter more.
    """
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:  # never start a run to close it
            try:
                logger.experiment.summary.update({k: v for k, v in metrics.items() if isinstance(v, int | float)})
                logger.experiment.finish()
            except Exception as e:  # noqa: BLE001
                log.warning("closing the W&B run failed: %s: %s", type(e).__name__, e)


def make_trainer(cfg: DictConfig, extra_callbacks: list[L.Callback] = (), **overrides: Any) -> L.Trainer:
    kwargs: dict[str, Any] = dict(overrides)
    if "precision" not in kwargs:
        kwargs["precision"] = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    kwargs.setdefault("callbacks", [SyncEpochMetrics(), *make_callbacks(cfg), *extra_callbacks])
    kwargs.setdefault("logger", make_loggers(cfg) or False)
    return instantiate(cfg.trainer, "trainer", **kwargs)


def to_plain(cfg: DictConfig) -> dict:
    """The resolved config as plain containers (safe for ``torch.load(weights_only=True)``)."""
    return OmegaConf.to_container(cfg, resolve=True)
