"""Write a leaderboard table as Markdown and CSV."""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import pandas as pd


def _fmt(value: object) -> str:
    if value is pd.NA:
        return "–"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):,}"  # parameter counts: 308,694
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


def write_leaderboard(families: pd.DataFrame, seeds: pd.DataFrame, out: Path, notes: list[str] = ()) -> None:
    """``families``: a row per study's best and default trials, the reference and skipped studies;
    ``notes``: plain sentences on the result (the winner, what it is below, what the budget left out)."""
    families.to_csv(out / "leaderboard.csv", index=False)
    text = "# Leaderboard\n\n" + "".join(f"- {n}\n" for n in notes) + ("\n" if notes else "")
    text += "## Best and default trial of each study, and the reference\n\n" + to_markdown(families)
    if len(seeds):
        text += "\n## Top configurations re-run over seeds (mean ± 95% CI)\n\n" + to_markdown(seeds)
    (out / "leaderboard.md").write_text(text)
