"""A task (``conf/task/``): what differs between text classification and extractive QA, behind one interface.

``train()`` asks the run's task for its data module, model and LightningModule (``Task.setup``) and otherwise
trains, checkpoints, tests and measures every task the same way. A third task (token tagging, pair
classification) is a folder of its own (as ``tasks/classification/`` and ``tasks/qa/``), its entry in ``tasks()``
and a ``conf/task/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightning as L
from omegaconf import DictConfig
from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.tasks.instantiate import instantiate
from attentune.tasks.prepare import PreparedData


@dataclass
class Setup:
    """What a run trains: its data, tokenizer (the one saved with the run), data module and modules."""

    dataset: Any
    tokenizer: Tokenizer
    datamodule: L.LightningDataModule
    module: L.LightningModule  # holds the model (``module.model``)
    latency_examples: Callable[[], list[list[int]]]  # token ids of the test inputs that latency is measured on


class Task(Protocol):
    name: str
    best: str  # the best-so-far value its module logs (``metrics.json`` keeps it)

    def setup(self, cfg: DictConfig, data: PreparedData, run_info: dict[str, Any]) -> Setup:
        """The data module over ``data`` (the run's dataset and tokenizer), the model and the module.
        ``run_info`` (the config) is completed with what a checkpoint needs to rebuild the model."""
        ...

    def restore(self, info: dict[str, Any], tokenizer: Tokenizer) -> L.LightningModule:
        """The module of a checkpoint's ``run_info`` (weights not loaded yet)."""
        ...

    def evaluation_data(self, run: Any, dataset: Any, split: str, batch_size: int) -> L.LightningDataModule:
        """A data module whose test split is ``split`` of ``dataset``, as ``run`` (a checkpoint) reads it."""
        ...

    def predict(self, run: Any, records: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
        """Predictions for input records (their fields: ``inputs``), one output record each."""
        ...

    def reference(self, dataset: Any, out: Path | None = None) -> dict[str, Any]:
        """A simple non-neural reference on ``dataset`` (a leaderboard row: ``model`` and the trials' metric keys);
        with ``out``, also its model and predictions there when the task can ensemble (classification)."""
        ...

    def callbacks(self, out: Path) -> list[L.Callback]:
        """What a run of this task adds to its Trainer (classification: keep its predictions in ``out``)."""
        ...

    def outputs(self, info: dict[str, Any]) -> dict[str, type]:
        """The fields ``predict`` gives each input record (a checkpoint's ``run_info``), with their types."""
        ...

    def state(self, module: L.LightningModule) -> dict[str, Any]:
        """What ``predict`` needs of a trained module beyond its model (qa: the no-answer threshold), as plain
        values: a loaded run's ``info`` carries them, and so does an exported model."""
        ...

    def records(self, dataset: Any, split: str) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], float]]:
        """``split`` of ``dataset`` as input records, and the score of ``predict``'s outputs for its first
        ``len(outputs)`` records (accuracy; qa: F1)."""
        ...

    inputs: tuple[str, ...]  # the fields of an input record


def tasks() -> dict[str, Task]:
    from attentune.tasks.classification.task import Classification  # the tasks import this module's Setup
    from attentune.tasks.qa.task import QuestionAnswering

    return {task.name: task for task in (Classification(), QuestionAnswering())}


def task_of(cfg: DictConfig) -> Task:
    """The run's task (``task.name``; configs without one are classification: checkpoints from before tasks)."""
    name = str((cfg.get("task") or {}).get("name", "classification"))
    known = tasks()
    if name not in known:
        raise ConfigError(f"task: unknown task {name!r}; choose one of {', '.join(known)}")
    return known[name]


def optimizer_args(cfg: DictConfig) -> dict[str, Any]:
    """A task module's optimiser and schedule settings, from the run's config."""
    return {
        "optimizer": instantiate(cfg.optimizer, "optimizer"),
        "lr_schedule": cfg.lr_schedule.name,
        "warmup_ratio": cfg.lr_schedule.warmup_ratio,
    }
