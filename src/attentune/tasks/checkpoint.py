"""Rebuild a trained classifier from a checkpoint alone (config, tokenizer and labels travel inside it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attentune.errors import ConfigError
from attentune.lit import ClassificationModule
from attentune.tasks.build import make_model
from attentune.tokenization import load_tokenizer


@dataclass
class LoadedRun:
    module: ClassificationModule
    tokenizer: Tokenizer
    config: DictConfig  # the training run's resolved config
    label_names: list[str]


def load_run(ckpt_path: str | Path) -> LoadedRun:
    """Load ``ckpt_path`` with ``weights_only=True`` and rebuild its model, tokenizer and config."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint file: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is the user's input problem
        raise ConfigError(f"ckpt_path: cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    info = ckpt.get("attentune") if isinstance(ckpt, dict) else None
    if not info:
        raise ConfigError(f"ckpt_path: {path} is not an attentune checkpoint (no run info inside)")
    config = OmegaConf.create(info["config"])
    tokenizer = load_tokenizer(info["tokenizer"])
    labels = list(info["label_names"])
    model = make_model(config.model, tokenizer.get_vocab_size(), len(labels))
    module = ClassificationModule(model, len(labels), optimizer=torch.optim.AdamW, run_info=info)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    return LoadedRun(module, tokenizer, config, labels)
