"""A run's composed config before anything is built: its resolvers, its validation, its example budget.

Nothing here imports Lightning, Ray or transformers, so a command checks its config (``validate_config``) and
answers a mistake in about the time ``import torch`` takes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from attentune.errors import ConfigError
from attentune.lit.schedules import WarmupDecay
from attentune.tasks.instantiate import instantiate
from attentune.tokenization.tokenizer import validate_tokenizer_config

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
