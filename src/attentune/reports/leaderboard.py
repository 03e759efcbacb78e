"""Write a leaderboard table as Markdown and CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if value.is_integer() and abs(value) >= 1000:  # counts (parameters) that pandas made floats
            return f"{int(value):,}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def write_leaderboard(families: pd.DataFrame, seeds: pd.DataFrame, out: Path) -> None:
    families.to_csv(out / "leaderboard.csv", index=False)
    text = "# Leaderboard\n\n## Best trial of each study\n\n" + to_markdown(families)
    if len(seeds):
        text += "\n## Top configurations re-run over seeds (mean ± 95% CI)\n\n" + to_markdown(seeds)
    (out / "leaderboard.md").write_text(text)
