"""``explain(cfg)``: explanations of a checkpoint's predictions for one text or a split, with report.html."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from attentune.errors import ConfigError
from attentune.interpret.methods import check_methods

SPLITS = ("train", "val", "test")


def explain(cfg: DictConfig) -> dict[str, Any]:
    began = time.time()
    methods = check_methods(list(cfg.methods))
    if cfg.split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {cfg.split!r}")
    if int(cfg.n) < 1:
        raise ConfigError(f"n must be a positive number of examples, got {cfg.n}")
    output = Path(cfg.output) if cfg.output else None
    if output is not None and output.exists() and not cfg.overwrite:
        raise ConfigError(f"output: {output} exists; choose another file or pass overwrite=true to replace it")
    if output is not None and output.suffix != ".jsonl":
        raise ConfigError(f"output: explanations are written as .jsonl, got {output.name}")
    for field in ("text", "question", "context"):
        if cfg.get(field) is not None and not str(cfg.get(field)).strip():
            raise ConfigError(f"{field}: empty; give the {field} to explain")
    # only now the heavy imports (torch, captum, Lightning, matplotlib): a mistake above is answered in a second
    from attentune.interpret.attention import attention_maps
    from attentune.interpret.explain import explain_examples, faithfulness_table
    from attentune.interpret.heads import head_importance
    from attentune.interpret.target import Vocabulary, encode
    from attentune.reports.explanation import split_report, text_report
    from attentune.tasks.checkpoint import load_run
    from attentune.tasks.classification.task import relabel
    from attentune.tasks.instantiate import instantiate
    from attentune.tasks.train import write_json

    run = load_run(cfg.ckpt_path)
    vocab = Vocabulary.of(run.tokenizer)
    out_dir = Path(cfg.paths.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = {"family": run.config.model._target_.rsplit(".", 1)[-1], "ckpt": str(cfg.ckpt_path)}
    if run.task.name == "qa":
        return _explain_span(cfg, run, vocab, out_dir, info)
    if cfg.get("question") is not None or cfg.get("context") is not None:
        raise ConfigError("question/context: this checkpoint classifies texts; give text=... or a split")
    model, labels = run.module.model, list(run.info["label_names"])
    options = dict(
        batch_size=int(cfg.batch_size),
        ig_steps=int(cfg.ig.n_steps),
        ig_max_steps=int(cfg.ig.max_steps),
        internal_batch_size=int(cfg.ig.internal_batch_size),
        seed=int(cfg.seed),
    )
    if cfg.text is not None:
        examples = encode(run.tokenizer, [str(cfg.text)])
        ex = explain_examples(model, examples, vocab, methods, **options)
        report = text_report(out_dir / "report.html", ex, labels, attention_maps(model, examples[0].ids).numpy(), info)
        summary: dict[str, Any] = {"report": str(report), "pred": labels[ex.predicted[0]]}
    else:
        dataset = relabel(instantiate(cfg.get("data") or run.config.data, "data"), labels)
        split = dataset.splits()[cfg.split]
        order = list(range(len(split)))
        random.Random(int(cfg.seed)).shuffle(order)
        pick = order[: int(cfg.n)]
        examples = encode(run.tokenizer, [split.texts[i] for i in pick], [split.labels[i] for i in pick])
        ex = explain_examples(model, examples, vocab, methods, **options)
        start = time.perf_counter()
        faith = faithfulness_table(model, ex, vocab, seed=int(cfg.seed))
        ex.seconds["faithfulness"] = time.perf_counter() - start
        heads = None
        if cfg.heads:
            n_val = min(len(dataset.val), int(cfg.heads_examples))
            start = time.perf_counter()
            heads = head_importance(model, encode(run.tokenizer, dataset.val.texts[:n_val], dataset.val.labels[:n_val]))
            ex.seconds["heads"] = time.perf_counter() - start
        info |= {"data": dataset.name, "split": cfg.split}
        report = split_report(out_dir / "report.html", ex, labels, faith, heads, info)
        summary = {"report": str(report), "examples": len(examples), "faithfulness": faith}
        if heads is not None:
            summary["heads"] = {"importance": heads.importance, "pruning": heads.pruning}
    summary["seconds"] = {m: round(s, 2) for m, s in ex.seconds.items()} | {"total": round(time.time() - began, 1)}
    if ex.ig is not None:
        summary["ig"] = {"steps": ex.ig.steps, "relative_delta": [round(r, 5) for r in ex.ig.relative_delta]}
    if output is not None:
        _write_jsonl(output, ex, labels)
        summary["output"] = str(output)
    write_json(out_dir / "explanation.json", summary)
    print(f"explain: {report}" + (f" and {output}" if output is not None else ""))
    return summary


def _write_jsonl(path: Path, ex, labels: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for i, e in enumerate(ex.examples):
            record = {
                "text": e.text,
                "tokens": e.tokens,
                "special": e.special,
                "pred": labels[ex.predicted[i]],
                "probs": [round(float(p), 6) for p in ex.probs[i]],
                "label": None if e.label is None else labels[e.label],
                "scores": {m: [round(v, 6) for v in s[i]] for m, s in ex.scores.items()},
            }
            if ex.ig is not None:
                record["ig"] = {"steps": ex.ig.steps[i], "relative_delta": ex.ig.relative_delta[i]}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _explain_span(cfg: DictConfig, run: Any, vocab: Any, out_dir: Path, info: dict[str, Any]) -> dict[str, Any]:
    """A QA checkpoint: what its answer to ``question`` on ``context`` rests on (report.html)."""
    from attentune.interpret.attention import attention_maps
    from attentune.interpret.qa import QA_METHODS, explain_span
    from attentune.reports.explanation import span_report
    from attentune.tasks.qa.windows import window_tokenizer
    from attentune.tasks.train import write_json

    if cfg.get("question") is None or cfg.get("context") is None:
        raise ConfigError("this checkpoint answers questions (task=qa): give question=... and context=...")
    c = run.config
    windows = window_tokenizer(run.tokenizer, c.max_length, c.task.stride, c.task.max_question_tokens)
    methods = tuple(m for m in cfg.methods if m in QA_METHODS)
    span = explain_span(
        run.module.model,
        windows,
        str(cfg.question),
        str(cfg.context),
        vocab,
        methods,
        max_question_tokens=c.task.max_question_tokens,
        max_answer_tokens=c.task.max_answer_tokens,
        ig_steps=int(cfg.ig.n_steps),
        ig_max_steps=int(cfg.ig.max_steps),
        internal_batch_size=int(cfg.ig.internal_batch_size),
        seed=int(cfg.seed),
    )
    ex = span.explanations
    for m in cfg.methods:
        if m not in QA_METHODS:
            ex.skipped[m] = "not defined for spans (deleting a token moves the span)"
    e = ex.examples[0]
    maps = attention_maps(run.module.model, e.ids, e.token_type_ids).numpy()
    report = span_report(out_dir / "report.html", span, str(cfg.question), maps, info)
    summary = {
        "report": str(report),
        "answer": span.answer,
        "span": list(span.span),
        "score": span.score,
        "tokens": e.tokens,
        "scores": ex.scores,
        "seconds": {m: round(v, 2) for m, v in ex.seconds.items()},
    }
    if ex.ig is not None:
        summary["ig"] = {"steps": ex.ig.steps, "relative_delta": ex.ig.relative_delta}
    write_json(out_dir / "explanation.json", summary)
    print(f"explain: {report}")
    return summary
