"""report.html (and its PNGs) for explanations: one text, or a split with faithfulness and head importance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentune.interpret.explain import Explanations, global_tokens, verdicts
from attentune.interpret.heads import HeadImportance
from attentune.reports.html import figure_uri, heat_tokens, image, plt, table, write

METRICS = ("comprehensiveness/deletion", "comprehensiveness/unk", "sufficiency/deletion", "sufficiency/unk")


def _ci(value: tuple[float, float, float] | None) -> str:
    return "" if value is None else f"{value[0]:.3f} [{value[1]:.3f}, {value[2]:.3f}]"


def token_section(ex: Explanations, i: int, labels: list[str]) -> str:
    e = ex.examples[i]
    probs = ", ".join(f"{labels[c]} {p:.3f}" for c, p in enumerate(ex.probs[i]))
    head = f"<p><b>predicted {labels[ex.predicted[i]]}</b> ({probs})"
    if e.label is not None:
        head += f"; true label {labels[e.label]}"
    return head + "</p>" + _score_rows(ex, i)


def attention_figure(maps: np.ndarray, tokens: list[str], out: Path | None) -> str:
    """Every layer's every head (L x H grid) of one input's attention weights."""
    L, H = maps.shape[:2]
    fig, axes = plt.subplots(L, H, figsize=(2.2 * H, 2.2 * L), squeeze=False)
    for layer in range(L):
        for head in range(H):
            ax = axes[layer][head]
            ax.imshow(maps[layer, head], cmap="viridis", vmin=0)
            ax.set_title(f"layer {layer + 1} head {head + 1}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    if len(tokens) <= 40:
        for ax in axes[-1]:
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=5)
        for row in axes:
            row[0].set_yticks(range(len(tokens)), tokens, fontsize=5)
    return figure_uri(fig, out)


def scores_figure(ex: Explanations, i: int, out: Path | None) -> str:
    e = ex.examples[i]
    methods = list(ex.scores)
    fig, axes = plt.subplots(len(methods), 1, figsize=(max(6, 0.35 * len(e.ids)), 1.3 * len(methods)), squeeze=False)
    for ax, m in zip(axes[:, 0], methods, strict=True):
        s = np.asarray(ex.scores[m][i])
        ax.bar(range(len(s)), s, color=["#d62728" if v >= 0 else "#1f77b4" for v in s])
        ax.set_ylabel(m, rotation=0, ha="right", fontsize=7)
        ax.set_xticks([])
    axes[-1, 0].set_xticks(range(len(e.tokens)), e.tokens, rotation=90, fontsize=7)
    return figure_uri(fig, out)


def _score_rows(ex: Explanations, i: int) -> str:
    """Every method's scores of example ``i`` as coloured tokens, a row per method."""
    e = ex.examples[i]
    return (
        "<table>"
        + "".join(
            f"<tr><td class=l>{m}</td><td class=l>{heat_tokens(e.tokens, s[i], e.special)}</td></tr>"
            for m, s in ex.scores.items()
        )
        + "</table>"
    )


def _one_input(path: Path, ex: Explanations, maps: np.ndarray, head: str, explained: str) -> list[tuple[str, str]]:
    """The sections of a one-input report: ``head``, the scores plot, the attention maps, IG's convergence."""
    e = ex.examples[0]
    sections = [("", head)]
    sections.append(("Token scores", image(scores_figure(ex, 0, path.parent / "scores.png"), "token scores")))
    if maps.size:
        uri = attention_figure(maps, e.tokens, path.parent / "attention.png")
        sections.append(("Attention, every layer and head", image(uri, "attention maps")))
    if ex.ig is not None:
        sections.append(("Integrated gradients", f"<p>{ex.ig.steps[0]} steps, |delta| / |F(x) - F(baseline)| = "
                         f"{ex.ig.relative_delta[0]:.3%} (F: {explained})</p>"))  # fmt: skip
    return sections + _not_run(ex)


def _not_run(ex: Explanations) -> list[tuple[str, str]]:
    notes = "".join(f"<li>{m}: {why}</li>" for m, why in ex.skipped.items())
    return [("Not run", f"<ul>{notes}</ul>")] if notes else []


def text_report(path: Path, ex: Explanations, labels: list[str], maps: np.ndarray, info: dict[str, Any]) -> Path:
    head = f"<p class=note>{info['family']} from {info['ckpt']}</p>" + token_section(ex, 0, labels)
    sections = _one_input(path, ex, maps, head, "the predicted class's logit")
    return write(path, f"Why {labels[ex.predicted[0]]}: {ex.examples[0].text[:60]}", sections)


def span_report(path: Path, span: Any, question: str, maps: np.ndarray, info: dict[str, Any]) -> Path:
    """report.html for one question: the predicted answer and what each method says it rests on."""
    first, last = span.span
    head = (
        f"<p class=note>{info['family']} from {info['ckpt']}</p><p><b>answer: {span.answer or '(none)'}</b> "
        f"(tokens {first}-{last} of the window that scores it highest, start + end logit {span.score:.3f})</p>"
    )
    sections = _one_input(path, span.explanations, maps, head + _score_rows(span.explanations, 0),
                          "the span's start + end logit")  # fmt: skip
    return write(path, f"What the answer rests on: {question[:60]}", sections)


def head_figure(heads: HeadImportance, out: Path | None) -> str:
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained")
    im = a.imshow(np.asarray(heads.importance), cmap="magma")
    a.set(xlabel="head", ylabel="layer", title="loss increase with the head masked")
    a.set_xticks(range(len(heads.importance[0])), [str(h + 1) for h in range(len(heads.importance[0]))])
    a.set_yticks(range(len(heads.importance)), [str(i + 1) for i in range(len(heads.importance))])
    fig.colorbar(im, ax=a)
    x, y = zip(*heads.pruning, strict=True)
    b.plot(x, y, marker="o")
    b.set(xlabel="fraction of heads masked (least important first)", ylabel="accuracy", title="pruning curve")
    return figure_uri(fig, out)


def split_report(
    path: Path,
    ex: Explanations,
    labels: list[str],
    faithfulness: list[dict[str, Any]],
    heads: HeadImportance | None,
    info: dict[str, Any],
) -> Path:
    n = len(ex.examples)
    acc = np.mean([e.label == p for e, p in zip(ex.examples, ex.predicted, strict=True)])
    intro = (f"<p class=note>{info['family']} from {info['ckpt']}; {n} examples of {info['data']} "
             f"{info['split']}; accuracy {acc:.3f}. Means with 95% bootstrap intervals.</p>")  # fmt: skip
    header = ["method", *METRICS, "Kendall τ with leave-one-out", "seconds"]
    rows = [
        [r["method"], *(_ci(r.get(k)) for k in METRICS), _ci(r.get("kendall_loo")), r["seconds"]] for r in faithfulness
    ]
    faith = table(header, rows) + "<ul>" + "".join(f"<li>{v}</li>" for v in verdicts(faithfulness)) + "</ul>"
    faith += ("<p class=note>Comprehensiveness: how much the predicted class's probability falls when a method's top "
              "10..100% tokens are deleted or replaced by [UNK] (higher is better); sufficiency: how much it falls "
              "when only they are kept (lower is better); AOPC over the ten fractions.</p>")  # fmt: skip
    sections = [("", intro), ("Faithfulness", faith)]
    if ex.ig is not None:
        rel = np.asarray(ex.ig.relative_delta)
        steps = np.asarray(ex.ig.steps)
        sections.append(("Integrated gradients convergence", (
            f"<p>{np.mean(rel < 0.05):.1%} of examples reach |delta| / |F(x) - F(baseline)| &lt; 5%; steps used: "
            + ", ".join(f"{s}: {int(np.sum(steps == s))}" for s in sorted(set(steps.tolist()))) + "</p>")))  # fmt: skip
    for method in ("integrated_gradients", "rollout"):
        if method in ex.scores:
            tables = "".join(
                f"<div style='display:inline-block;vertical-align:top;margin-right:1em'><b>predicted {labels[c]}</b>"
                + table(["token", "mean score", "n"], [[t, f"{s:.4f}", k] for t, s, k in global_tokens(ex, method, c)])
                + "</div>"
                for c in sorted(set(ex.predicted))
            )
            sections.append((f"Tokens that weigh most ({method}, at least 3 occurrences)", tables))
    if heads is not None:
        text = f"<p>Validation loss {heads.base_loss:.4f}, accuracy {heads.base_accuracy:.3f} with every head.</p>"
        sections.append(("Head importance", text + image(head_figure(heads, path.parent / "heads.png"), "heads")))
    errors = [i for i, (e, p) in enumerate(zip(ex.examples, ex.predicted, strict=True)) if e.label != p][:10]
    if errors:
        sections.append(("Errors explained", "".join(token_section(ex, i, labels) for i in errors)))
    sections += _not_run(ex)
    return write(path, f"Explanations: {info['family']} on {info['data']} {info['split']}", sections)
