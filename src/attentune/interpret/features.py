"""Attention-guided feature selection: which tokens a trained model attends to, and what keeping only them is worth.

``token_scores`` reads a checkpoint's attention rollout over training texts (each token's share of what the pooled
vector attends to, summed over its occurrences). ``select_features`` retrains the checkpoint's configuration with
``feature_selection.keep_fraction`` of the vocabulary chosen by those scores, by frequency and at random, over
seeds, and compares their test accuracy (``tokenization/selection.py`` cuts the vocabulary).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from tokenizers import Tokenizer
from torch import nn

from attentune.errors import ConfigError
from attentune.interpret.attention import attention_scores
from attentune.interpret.target import encode
from attentune.reports.stats import mean_ci95


@torch.no_grad()
def token_scores(
    model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 64
) -> dict[str, float]:
    """Total rollout attention per token string over ``texts`` (special tokens left out)."""
    if not model.attention_heads():
        raise ConfigError("select_features: attention-guided selection needs a model with attention (mha, minilm)")
    model = model.float().eval()
    examples = sorted(encode(tokenizer, list(texts)), key=lambda e: len(e.ids))
    total: dict[str, float] = {}
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        for e, scores in zip(chunk, attention_scores(model, [e.ids for e in chunk])["rollout"], strict=True):
            for p in e.words:
                total[e.tokens[p]] = total.get(e.tokens[p], 0.0) + scores[p]
    return total


def run_config(base: DictConfig, out: Path, keep: float, method: str, seed: int, scores: Path) -> DictConfig:
    """The checkpoint's training config with the selection, the seed and a run directory of its own."""
    cfg = OmegaConf.create(OmegaConf.to_container(base, resolve=True))
    with open_dict(cfg):
        cfg.feature_selection = {"keep_fraction": keep, "method": method, "scores": str(scores), "seed": seed}
        cfg.seed = seed
        cfg.paths.output_dir = str(out)
        cfg.trainer.default_root_dir = str(out)
        if "callbacks" in cfg and "model_checkpoint" in cfg.callbacks:
            cfg.callbacks.model_checkpoint.dirpath = str(out / "checkpoints")
        if "callbacks" in cfg:
            cfg.callbacks.rich_progress_bar = None
        cfg.logger = {"csv": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": str(out), "name": "csv"}}
    return cfg


@contextlib.contextmanager
def quiet_run(path: Path) -> Iterator[None]:
    """A training run's printed lines and our INFO logging go to ``path``, not the terminal: one line per run here."""
    logger = logging.getLogger("attentune")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with path.open("w") as f, contextlib.redirect_stdout(f):
            yield
    finally:
        logger.setLevel(level)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (method, keep): test accuracy mean and 95% t-interval over seeds, and the vocabulary kept."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["keep"]), []).append(r)
    out = []
    for (method, keep), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        mean, half = mean_ci95([r["test/acc"] for r in rs])
        out.append({"method": method, "keep": keep, "seeds": len(rs), "test/acc": mean, "ci95": half,
                    "vocab_size": rs[0]["vocab_size"]})  # fmt: skip
    return out


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=2) + "\n")
    tmp.replace(path)


def select_features(cfg: DictConfig) -> list[dict[str, Any]]:
    """``select_features.py``: score the tokens, retrain with each selection, compare (see the module docstring)."""
    from attentune.reports.features import write_report
    from attentune.tasks.checkpoint import load_run
    from attentune.tasks.instantiate import instantiate
    from attentune.tasks.train import train
    from attentune.tokenization.selection import SELECTORS

    keeps = sorted({float(k) for k in cfg.keep})
    if not keeps or not all(0.0 < k <= 1.0 for k in keeps):
        raise ConfigError(f"keep: fractions of the vocabulary in (0, 1], got {list(cfg.keep)}")
    methods = list(cfg.methods)
    unknown = [m for m in methods if m not in SELECTORS]
    if unknown:
        raise ConfigError(f"methods: unknown {unknown[0]!r}; choose from {', '.join(SELECTORS)}")
    if int(cfg.seeds) < 1:
        raise ConfigError(f"seeds must be >= 1, got {cfg.seeds}")
    run = load_run(cfg.ckpt_path)
    if run.task.name != "classification":
        raise ConfigError("select_features: feature selection covers classification checkpoints")
    base = run.config
    if cfg.get("data") is not None:
        base = OmegaConf.merge(base, {"data": cfg.data})
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores_path = out / "token_scores.json"
    if not scores_path.is_file():
        dataset = instantiate(base.data, "data")
        texts = dataset.train.texts[: int(cfg.score_examples)]
        write_rows(scores_path, token_scores(run.module.model, run.tokenizer, texts))  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    for keep in keeps:
        for method in methods if keep < 1.0 else ["all"]:  # keeping everything is one configuration
            for seed in range(1, int(cfg.seeds) + 1):
                rundir = out / "runs" / f"{method}_keep{keep:g}_seed{seed}"
                metrics_file = rundir / "metrics.json"
                if not metrics_file.is_file():
                    shutil.rmtree(rundir, ignore_errors=True)  # an interrupted run of ours: start it again
                    rundir.mkdir(parents=True)
                    selection = "frequency" if method == "all" else method
                    with quiet_run(rundir / "train.out"):
                        train(run_config(base, rundir, keep, selection, seed, scores_path))
                m = json.loads(metrics_file.read_text())
                vocab = Tokenizer.from_file(str(rundir / "tokenizer.json")).get_vocab_size()
                rows.append({"method": method, "keep": keep, "seed": seed, "vocab_size": vocab,
                             "test/acc": m["test/acc"], "val/acc_best": m.get("val/acc_best")})  # fmt: skip
                print(f"select_features: {method} keep {keep:g} seed {seed}: test/acc {m['test/acc']:.4f} "
                      f"({vocab:,} tokens)", flush=True)  # fmt: skip
    write_rows(out / "features.json", rows)
    summary = summarise(rows)
    report = write_report(out, summary, info={"ckpt": str(cfg.ckpt_path), "data": str(base.data.get("name") or "")})
    print(f"select_features: {report}")
    return summary
