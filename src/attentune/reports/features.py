"""select_features.py's features.md and report.html: test accuracy against the fraction of vocabulary kept."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from attentune.reports.html import figure_uri, image, plt, table, write


def _acc(row: dict[str, Any]) -> str:
    half = row["ci95"]
    return f"{100 * row['test/acc']:.1f}" + ("" if math.isnan(half) else f" ± {100 * half:.1f}")


def write_report(out: Path, summary: list[dict[str, Any]], info: dict[str, Any]) -> Path:
    header = ["method", "keep", "vocabulary", "seeds", "test acc (95% CI)"]
    rows = [[r["method"], f"{r['keep']:g}", f"{r['vocab_size']:,}", r["seeds"], _acc(r)] for r in summary]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    (out / "features.md").write_text("\n".join(md) + "\n")

    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    full = [r for r in summary if r["method"] == "all"]
    for method in sorted({r["method"] for r in summary} - {"all"}):
        pts = sorted([r for r in summary if r["method"] == method] + full, key=lambda r: r["keep"])
        ys = [100 * r["test/acc"] for r in pts]
        errs = [0 if math.isnan(r["ci95"]) else 100 * r["ci95"] for r in pts]
        ax.errorbar([r["keep"] for r in pts], ys, yerr=errs, marker="o", capsize=3, label=method)
    ax.set(xlabel="fraction of the vocabulary kept", ylabel="test accuracy (%)", title="feature selection")
    ax.legend()
    uri = figure_uri(fig, out / "features.png")
    intro = (f"<p class=note>Retrained from {info['ckpt']} ({info['data']}); mean over seeds with the 95% "
             "t-interval. 'all' keeps the whole vocabulary.</p>")  # fmt: skip
    return write(
        out / "report.html", "Feature selection", [("", intro + table(header, rows)), ("", image(uri, "plot"))]
    )
