"""What a command prints when it ends: a run's metrics as a small table, and what to run next with its checkpoint."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Any

EXAMPLES = {
    "classification": ['text="the acting was superb but the plot dragged"'],
    "qa": ['question="Who won?"', 'context="..."'],
}


def next_steps(ckpt: Path, task: str = "classification", what: str = "best checkpoint") -> str:
    """``ckpt`` (a checkpoint file or a directory ``ckpt_path=`` takes) and the commands that use it."""
    arg = shlex.quote(f"ckpt_path={ckpt}")
    example = " ".join(EXAMPLES.get(task, EXAMPLES["classification"]))
    return "\n".join(
        [
            f"{what}: {ckpt}",
            f"  python src/evaluate.py {arg}   # re-score it on the test split",
            f"  python src/predict.py {arg} {example}",
            f"  python src/predict.py {arg} input=data.csv output=predictions.csv   # a file, columns kept",
        ]
    )


def metrics_table(metrics: dict[str, Any]) -> str:
    """Name and value, one per line, aligned: 4 significant digits, counts with thousands separators; paths and
    other text as they are."""
    shown = {k: v for k, v in metrics.items() if v is not None and v != ""}
    width = max((len(k) for k in shown), default=0)
    return "\n".join(f"  {k:<{width}}  {_number(v)}" for k, v in shown.items())


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
