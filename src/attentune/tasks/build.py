"""Turn a composed config into the objects of a run: validation, tokenizer, model, trainer.

Shared by training, evaluation and the tuner so that a trial is exactly a training run.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer
from torch import nn

from attentune.data.types import TextDataset
from attentune.tasks.distributed import SyncEpochMetrics
from attentune.tasks.instantiate import instantiate
from attentune.tokenization import build_tokenizer
from attentune.tokenization.selection import select_vocabulary

log = logging.getLogger(__name__)


def make_tokenizer(cfg: DictConfig, dataset: TextDataset) -> Tokenizer:
    t = cfg.tokenizer
    texts = dataset.tokenizer_texts()
    tokenizer = build_tokenizer(
        texts,
        kind=t.kind,
        vocab_size=t.vocab_size,
        lowercase=t.lowercase,
        min_frequency=t.min_frequency,
        max_length=cfg.max_length,
    )
    fs = cfg.get("feature_selection") or {}
    if float(fs.get("keep_fraction", 1.0)) < 1.0:
        tokenizer = select_vocabulary(
            tokenizer,
            texts,
            float(fs.keep_fraction),
            fs.get("method", "frequency"),
            fs.get("scores"),
            fs.get("seed", 0),
        )
        log.info("feature selection (%s): kept %d tokens", fs.get("method"), tokenizer.get_vocab_size())
    return tokenizer


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
