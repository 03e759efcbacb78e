"""A task (``conf/task/``): what differs between text classification and extractive QA, behind one interface.

``train()`` asks the run's task for its data module, model and LightningModule (``Task.setup``) and otherwise
trains, checkpoints, tests and measures every task the same way. A third task (token tagging, pair
classification) is a class here (or its own package, as ``tasks/qa/``) and a ``conf/task/<name>.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import lightning as L
from omegaconf import DictConfig
from tokenizers import Tokenizer

from attentune.data.datamodule import TextDataModule
from attentune.errors import ConfigError
from attentune.lit import ClassificationModule
from attentune.tasks.build import make_model
from attentune.tasks.instantiate import instantiate
from attentune.tasks.prepare import encoder_of, prepare_data
from attentune.tokenization import Collator


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
    distributed: bool  # whether its runs may train on several processes (DDP)
    best: str  # the best-so-far value its module logs (``metrics.json`` keeps it)

    def setup(self, cfg: DictConfig, tokenizer_file: Path | None, run_info: dict[str, Any]) -> Setup:
        """Data, tokenizer (trained here, or ``tokenizer_file``'s: another DDP rank's), model and module.
        ``run_info`` (the config) is completed with what a checkpoint needs to rebuild the model."""
        ...


def optimizer_args(cfg: DictConfig) -> dict[str, Any]:
    return {
        "optimizer": instantiate(cfg.optimizer, "optimizer"),
        "lr_schedule": cfg.lr_schedule.name,
        "warmup_ratio": cfg.lr_schedule.warmup_ratio,
    }


class Classification:
    """One label per text: accuracy and macro F1."""

    name = "classification"
    distributed = True
    best = "val/acc_best"

    def setup(self, cfg: DictConfig, tokenizer_file: Path | None, run_info: dict[str, Any]) -> Setup:
        data = prepare_data(cfg, tokenizer_file)
        dataset, tokenizer = data.dataset, data.tokenizer
        datamodule = TextDataModule(
            dataset, encoder_of(tokenizer), Collator(pad_id=0), batch_size=cfg.batch_size, encoded=data.encoded
        )
        model = make_model(cfg.model, tokenizer.get_vocab_size(), dataset.num_classes, tokenizer.get_vocab())
        run_info |= {"tokenizer": tokenizer.to_str(), "label_names": list(dataset.label_names), "dataset": dataset.name}
        module = ClassificationModule(
            model, dataset.num_classes, label_smoothing=cfg.label_smoothing, run_info=run_info, **optimizer_args(cfg)
        )
        return Setup(dataset, tokenizer, datamodule, module, lambda: [ids for ids, _ in datamodule.encoded("test")])


class QuestionAnswering:
    """Extractive QA: a span of the context per question (or none, SQuAD v2.0); exact match and F1."""

    name = "qa"
    distributed = False  # validation decodes all windows of an example together: one process for now
    best = "val/f1_best"

    def setup(self, cfg: DictConfig, tokenizer_file: Path | None, run_info: dict[str, Any]) -> Setup:
        from attentune.tasks.qa.data import QADataset
        from attentune.tasks.qa.datamodule import QADataModule
        from attentune.tasks.qa.module import QAModule
        from attentune.tasks.qa.windows import window_tokenizer

        data = prepare_data(cfg, tokenizer_file)
        dataset, tokenizer = data.dataset, data.tokenizer
        if not isinstance(dataset, QADataset):
            raise ConfigError(f"task=qa: data={dataset.name} is not question answering data (data=squad, squad_synth)")
        t = cfg.task
        windows = window_tokenizer(tokenizer, cfg.max_length, t.stride, t.max_question_tokens)
        datamodule = QADataModule(dataset, windows, cfg.batch_size, max_question_tokens=t.max_question_tokens)
        model = make_model(cfg.model, tokenizer.get_vocab_size(), 2, tokenizer.get_vocab())
        run_info |= {"tokenizer": tokenizer.to_str(), "dataset": dataset.name, "no_answer": dataset.has_unanswerable}
        module = QAModule(
            model,
            run_info=run_info,
            max_answer_tokens=t.max_answer_tokens,
            n_best=t.n_best,
            no_answer=dataset.has_unanswerable,
            **optimizer_args(cfg),
        )
        return Setup(dataset, tokenizer, datamodule, module, lambda: [w.input_ids for w in datamodule.windows("test")])


TASKS: dict[str, Task] = {task.name: task for task in (Classification(), QuestionAnswering())}


def task_of(cfg: DictConfig) -> Task:
    """The run's task (``task.name``; configs without one are classification: checkpoints from before tasks)."""
    name = str((cfg.get("task") or {}).get("name", "classification"))
    if name not in TASKS:
        raise ConfigError(f"task: unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
