"""Rebuild a trained model from a checkpoint alone (config, tokenizer and what its task needs travel inside it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.tasks.task import Task, task_of
from attentune.tokenization import load_tokenizer


@dataclass
class LoadedRun:
    """A trained model as its task predicts with it. ``serving.onnx.OnnxRun`` is the same thing around an exported
    graph: tasks use only ``tokenizer``, ``config``, ``info`` and ``logits``."""

    module: L.LightningModule  # in eval mode
    tokenizer: Tokenizer
    config: DictConfig  # the training run's resolved config
    info: dict[str, Any]  # its run info (label names, ...: what its task stored) and ``Task.state``
    task: Task

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None):
        """The model's float logits. Shapes: (B, T) each -> (B, C), or (B, T, 2) for span heads."""
        return self.module.model(input_ids, attention_mask, token_type_ids=token_type_ids).float()


def load_run(ckpt_path: str | Path) -> LoadedRun:
    """Load ``ckpt_path`` with ``weights_only=True`` and rebuild its model, tokenizer and config."""
    path = Path(ckpt_path)
    if path.is_dir() and (path / "checkpoints" / "best.ckpt").is_file():  # a run directory (a sweep's best/)
        path = path / "checkpoints" / "best.ckpt"
    if not path.is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is the user's input problem
        raise ConfigError(f"ckpt_path: cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    info = ckpt.get("attentune") if isinstance(ckpt, dict) else None
    if not info:
        raise ConfigError(f"ckpt_path: {path} is not an attentune checkpoint (no run info inside)")
    (info["config"].get("model") or {}).pop("onednn", None)  # saved before issue 22 removed the oneDNN switch
    config = OmegaConf.create(info["config"])
    tokenizer = load_tokenizer(info["tokenizer"])
    task = task_of(config)
    module = task.restore(info, tokenizer)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    return LoadedRun(module, tokenizer, config, info | task.state(module), task)
