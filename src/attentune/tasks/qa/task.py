"""Extractive question answering as a task (``task=qa``): a span of the context per question, or none (v2.0)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.errors import ConfigError, DataError
from attentune.tasks.build import make_model
from attentune.tasks.prepare import PreparedData
from attentune.tasks.qa.baseline import lexical_reference
from attentune.tasks.qa.data import QADataset, QAExample
from attentune.tasks.qa.datamodule import QADataModule
from attentune.tasks.qa.decode import answers, decode
from attentune.tasks.qa.metrics import squad_scores
from attentune.tasks.qa.module import QAModule
from attentune.tasks.qa.windows import collate_windows, encode_windows, window_tokenizer
from attentune.tasks.task import Setup, optimizer_args


class QuestionAnswering:
    name = "qa"
    best = "val/f1_best"
    inputs = ("question", "context")

    def outputs(self, info: dict[str, Any]) -> dict[str, type]:
        """The columns ``predict`` adds to an input row, with their types."""
        return {"answer": str, "answer_start": int, "score": float, "no_answer": bool}

    def setup(self, cfg: DictConfig, data: PreparedData, run_info: dict[str, Any]) -> Setup:
        dataset, tokenizer = data.dataset, data.tokenizer
        if not isinstance(dataset, QADataset):
            raise ConfigError(f"task=qa: data={dataset.name} is not question answering data (data=squad, squad_synth)")
        datamodule = QADataModule(
            dataset,
            _windows(cfg, tokenizer),
            cfg.batch_size,
            max_question_tokens=cfg.task.max_question_tokens,
            encoded=data.encoded,
        )
        model = make_model(cfg.model, tokenizer.get_vocab_size(), 2, tokenizer.get_vocab())
        run_info |= {"tokenizer": tokenizer.to_str(), "dataset": dataset.name, "no_answer": dataset.has_unanswerable}
        module = _module(cfg, model, run_info, **optimizer_args(cfg))
        test_ids = lambda: [w.input_ids.tolist() for w in datamodule.windows("test")]  # noqa: E731
        return Setup(dataset, tokenizer, datamodule, module, test_ids)

    def restore(self, info: dict[str, Any], tokenizer: Tokenizer) -> QAModule:
        cfg = OmegaConf.create(info["config"])
        return _module(cfg, make_model(cfg.model, tokenizer.get_vocab_size(), 2), info, optimizer=torch.optim.AdamW)

    def evaluation_data(self, run: Any, dataset: Any, split: str, batch_size: int) -> QADataModule:
        if not isinstance(dataset, QADataset):
            raise DataError(f"data={dataset.name} has no questions; this checkpoint answers questions (task=qa)")
        dataset = dataclasses.replace(dataset, test=getattr(dataset, split))
        cfg = run.config
        return QADataModule(
            dataset,
            _windows(cfg, run.tokenizer),
            eval_batch_size=batch_size,
            max_question_tokens=cfg.task.max_question_tokens,
        )

    @torch.inference_mode()
    def predict(self, run: Any, records: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
        """Per record: ``answer`` (the exact substring of its context, "" for none), ``answer_start`` (its first
        character in the context, -1 for none), ``score`` (the best span's start + end logit) and ``no_answer``."""
        cfg = run.config
        examples = [QAExample(str(i), "", r["question"], r["context"]) for i, r in enumerate(records)]
        windows = encode_windows(_windows(cfg, run.tokenizer), examples, cfg.task.max_question_tokens)
        starts, ends = [], []
        for i in range(0, len(windows), batch_size):
            batch = collate_windows(windows[i : i + batch_size])
            start, end = run.logits(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]).unbind(-1)
            lengths = batch["attention_mask"].sum(-1).tolist()
            starts += [s[:n] for s, n in zip(start, lengths, strict=True)]
            ends += [e[:n] for e, n in zip(end, lengths, strict=True)]
        best, null = decode(examples, windows, starts, ends, cfg.task.max_answer_tokens, cfg.task.n_best)
        final = answers(best, null, run.info.get("threshold"))
        return [
            {
                "answer": final[ex.id],
                "answer_start": best[ex.id].start if final[ex.id] else -1,
                "score": best[ex.id].score if math.isfinite(best[ex.id].score) else None,
                "no_answer": not final[ex.id],
            }
            for ex in examples
        ]

    def state(self, module: L.LightningModule) -> dict[str, Any]:
        return {"threshold": float(module.threshold) if module.no_answer else None}

    def records(self, dataset: Any, split: str) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], float]]:
        examples = getattr(dataset, split)

        def f1(outputs: list[dict[str, Any]]) -> float:
            first = examples[: len(outputs)]
            return squad_scores({ex.id: o["answer"] for ex, o in zip(first, outputs, strict=True)}, first)["f1"]

        return [{"question": ex.question, "context": ex.context} for ex in examples], f1

    def reference(self, dataset: QADataset, out: Path | None = None) -> dict[str, Any]:
        return lexical_reference(dataset)  # no ensembles of QA models yet: nothing to keep

    def callbacks(self, out: Path) -> list[L.Callback]:
        return []


def _windows(cfg: DictConfig, tokenizer: Tokenizer) -> Tokenizer:
    return window_tokenizer(tokenizer, cfg.max_length, cfg.task.stride, cfg.task.max_question_tokens)


def _module(cfg: DictConfig, model: torch.nn.Module, run_info: dict[str, Any], **optimizer: Any) -> QAModule:
    return QAModule(
        model,
        run_info=run_info,
        max_answer_tokens=cfg.task.max_answer_tokens,
        n_best=cfg.task.n_best,
        no_answer=bool(run_info.get("no_answer")),
        **optimizer,
    )
