"""A sweep's own W&B run: the leaderboard as a table, the accuracy-vs-latency plot and the winner's configuration,
in the group of the sweep's trials, so that ``wandb sync`` shows the whole search in one project."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

log = logging.getLogger(__name__)


def log_sweep(out: Path, group: str, project: str, leaderboard: pd.DataFrame, summary: dict[str, Any]) -> Path | None:
    """One offline (unless ``WANDB_MODE`` says otherwise) run named ``leaderboard``; returns its directory. A failure
    is logged, never raised: the sweep's own files matter more."""
    import wandb

    try:
        run = wandb.init(
            project=project,
            dir=str(out),
            group=group,
            job_type="leaderboard",
            name="leaderboard",
            config=winner_config(out / "best"),
            mode=os.environ.get("WANDB_MODE", "offline"),
            tags=["leaderboard"],
        )
        table = leaderboard.astype(object).where(leaderboard.notna(), None)
        logged: dict[str, Any] = {"leaderboard": wandb.Table(dataframe=table)}
        if (out / "accuracy_vs_latency.png").exists():
            logged["accuracy_vs_latency"] = wandb.Image(str(out / "accuracy_vs_latency.png"))
        run.log(logged)
        winner = {f"winner/{k}": v for k, v in (summary.get("winner_test") or {}).items() if _number(v)}
        run.summary.update(winner | {"winner": str(summary.get("winner_name") or "")})
        run.finish()
        return Path(run.dir).parent
    except Exception as e:  # noqa: BLE001
        log.warning("the sweep's W&B run failed: %s: %s", type(e).__name__, e)
        return None


def winner_config(best: Path) -> dict[str, Any]:
    """The winner's configuration: a trial's resolved config, or an ensemble's members and weights."""
    if (best / "config.yaml").exists():
        return yaml.safe_load((best / "config.yaml").read_text()) or {}
    if (best / "ensemble.json").exists():
        return {"ensemble": json.loads((best / "ensemble.json").read_text())}
    return {}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value))
