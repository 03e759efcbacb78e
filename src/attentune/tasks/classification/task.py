"""Text classification as a task (``task=classification``): one label per text, accuracy and macro F1."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.data.datamodule import TextDataModule
from attentune.data.types import Split, TextDataset
from attentune.errors import DataError
from attentune.tasks.build import make_model
from attentune.tasks.classification.module import ClassificationModule
from attentune.tasks.classification.predictions import KeepPredictions
from attentune.tasks.classification.reference import tfidf_reference
from attentune.tasks.prepare import PreparedData, encoder_of
from attentune.tasks.task import Setup, optimizer_args
from attentune.tokenization import Collator


class Classification:
    name = "classification"
    best = "val/acc_best"
    inputs = ("text",)

    def outputs(self, info: dict[str, Any]) -> dict[str, type]:
        """The columns ``predict`` adds to an input row: the label, then each label's probability."""
        return {"pred": str, **{f"prob_{label}": float for label in info["label_names"]}}

    def setup(self, cfg: DictConfig, data: PreparedData, run_info: dict[str, Any]) -> Setup:
        dataset, tokenizer = data.dataset, data.tokenizer
        if not isinstance(dataset, TextDataset):
            raise DataError(f"task=classification: data={dataset.name} has no labels (task=qa for QA data)")
        datamodule = TextDataModule(
            dataset, encoder_of(tokenizer), Collator(pad_id=0), batch_size=cfg.batch_size, encoded=data.encoded
        )
        model = make_model(cfg.model, tokenizer.get_vocab_size(), dataset.num_classes, tokenizer.get_vocab())
        run_info |= {"tokenizer": tokenizer.to_str(), "label_names": list(dataset.label_names), "dataset": dataset.name}
        module = ClassificationModule(
            model, dataset.num_classes, label_smoothing=cfg.label_smoothing, run_info=run_info, **optimizer_args(cfg)
        )
        return Setup(dataset, tokenizer, datamodule, module, lambda: [ids for ids, _ in datamodule.encoded("test")])

    def restore(self, info: dict[str, Any], tokenizer: Tokenizer) -> ClassificationModule:
        labels = list(info["label_names"])
        model = make_model(OmegaConf.create(info["config"]).model, tokenizer.get_vocab_size(), len(labels))
        return ClassificationModule(model, len(labels), optimizer=torch.optim.AdamW, run_info=info)

    def evaluation_data(self, run: Any, dataset: Any, split: str, batch_size: int) -> TextDataModule:
        if not isinstance(dataset, TextDataset):
            raise DataError(f"data={dataset.name} is question answering data; this checkpoint classifies texts")
        dataset = relabel(dataset, run.info["label_names"])
        dataset = dataclasses.replace(dataset, test=getattr(dataset, split))
        return TextDataModule(dataset, encoder_of(run.tokenizer), Collator(pad_id=0), eval_batch_size=batch_size)

    def predict(self, run: Any, records: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
        probs = probabilities(run, [r["text"] for r in records], batch_size)
        return label_records(probs.tolist(), run.info["label_names"])

    def state(self, module: L.LightningModule) -> dict[str, Any]:
        return {}

    def records(self, dataset: Any, split: str) -> tuple[list[dict[str, Any]], Callable[[list[dict[str, Any]]], float]]:
        part = getattr(dataset, split)
        names = [dataset.label_names[y] for y in part.labels]

        def accuracy(outputs: list[dict[str, Any]]) -> float:
            first = names[: len(outputs)]
            return sum(o["pred"] == y for o, y in zip(outputs, first, strict=True)) / max(1, len(outputs))

        return [{"text": t} for t in part.texts], accuracy

    def reference(self, dataset: TextDataset, out: Path | None = None) -> dict[str, Any]:
        return tfidf_reference(dataset, out=out)

    def callbacks(self, out: Path) -> list[L.Callback]:
        return [KeepPredictions(out)]


@torch.inference_mode()
def probabilities(run: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Shapes: (N, C) probabilities of a classification checkpoint (a ``LoadedRun`` or an ``OnnxRun``), in its
    label order."""
    ids = encoder_of(run.tokenizer)(texts)
    order = np.argsort([len(x) for x in ids], kind="stable")  # batches of similar lengths pad little
    out = [np.zeros((0, len(run.info["label_names"])))]
    for i in range(0, len(ids), batch_size):
        batch = Collator(pad_id=0)([(ids[j], 0) for j in order[i : i + batch_size]])
        out.append(run.logits(batch["input_ids"], batch["attention_mask"]).softmax(-1).numpy())
    probs = np.empty((len(ids), len(run.info["label_names"])))
    probs[order] = np.concatenate(out)
    return probs


def label_records(probs: list[list[float]], labels: list[str]) -> list[dict[str, Any]]:
    """One output record per row of probabilities: ``pred`` (the label) and ``prob_<label>`` for every label."""
    return [
        {"pred": labels[max(range(len(p)), key=p.__getitem__)]}
        | {f"prob_{label}": float(q) for label, q in zip(labels, p, strict=True)}
        for p in probs
    ]


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
