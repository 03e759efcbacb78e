"""A study's trials as one table, a line per finished trial while it runs, and a Tune callback that keeps only
the top-k checkpoints."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from ray import tune

from attentune.tuning.space import same_point

log = logging.getLogger(__name__)

REPORTED = (  # besides every test metric (``test/...``: the task's) a trial reports
    "num_params",
    "train_seconds",
    "latency_ms/b1",
    "latency_ms/b64",
    "epochs",
    "stopped_by_deadline",
    "time_total_s",
    "device",
    "processes",
    "gpu_ids",
    "threads",
    "node_id",
)


def test_of(metric: str) -> str:
    """The test score that matches a monitored validation metric: val/acc -> test/acc, val/f1 -> test/f1.

    The leaderboard ranks by the monitored metric and reports (and picks winners by) this one, whatever the task."""
    return "test/" + metric.split("/", 1)[-1]


def test_columns(columns: Iterable[str], metric: str) -> list[str]:
    """Of ``columns`` (the tables' column names), the test metrics to show: ``test_of(metric)`` first, then the
    task's others (the loss only if it is the monitored metric's)."""
    first = test_of(metric)
    others = list({c for c in columns if c.startswith("test/") and c not in (first, "test/loss")})
    others.sort(key=lambda c: (c[5:6].isupper(), c))  # overall scores before subsets (HasAns_, NoAns_)
    return [first, *others]


def trial_status(result: tune.Result) -> str:
    if result.error is not None:
        return "ERROR"
    # STOPPED: by the scheduler or the time budget, before the final report
    return "TERMINATED" if (result.metrics or {}).get("final") else "STOPPED"


def best_first(table: pd.DataFrame, column: str, mode: str) -> pd.DataFrame:
    """Rows ranked by ``column``, best first for the monitor's mode (max or min); missing values last."""
    return table.sort_values(column, ascending=mode == "min", na_position="last", kind="stable")


def empty_trial_table(metric: str) -> pd.DataFrame:
    """The columns a study summary reads, for a study with no trial (budget ended first, or skipped)."""
    return pd.DataFrame(columns=["trial_id", "status", "error", "default", metric, *REPORTED, "params", "trial_dir"])


def trial_table(
    results: tune.ResultGrid, metric: str, mode: str, default: dict[str, Any] | None = None
) -> pd.DataFrame:
    """One row per trial: status, error, sampled params (``param:<path>``), best metric and the reported numbers.

    ``default``: the family's default configuration; its trial is marked in the ``default`` column.

    Trials that never reported the metric and did not fail are left out: a searcher that samples up front
    (random, grid) leaves the trials the time budget did not reach pending.
    """
    rows = []
    for result in results:
        metrics: dict[str, Any] = result.metrics or {}
        if metric not in metrics and result.error is None:
            continue
        row = {
            "trial_id": metrics.get("trial_id", Path(result.path).name),
            "status": trial_status(result),
            "error": _error_line(result.error),
            "default": default is not None and same_point(result.config or {}, default),
            metric: metrics.get(metric, math.nan),
            **{key: value for key, value in metrics.items() if key.startswith("test/")},
            **{key: metrics.get(key, math.nan) for key in REPORTED},
            **{f"param:{k}": v for k, v in (result.config or {}).items()},
            "params": json.dumps(result.config or {}, default=_plain),
            "trial_dir": result.path,
        }
        rows.append(row)
    if not rows:  # no trial ran (e.g. the time budget ended first)
        return empty_trial_table(metric)
    return best_first(pd.DataFrame(rows), metric, mode).reset_index(drop=True)


def _plain(value: Any) -> Any:
    """numpy scalars (BOHB samples them) as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def _error_line(error: BaseException | str | None) -> str:
    """The line of an error (or of its traceback's text) that names it: the last one, as Ray wraps the trial's
    exception; an exception without text gives its type's name, empty text nothing."""
    if error is None:
        return ""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines:
        return lines[-1][:300]
    return "" if isinstance(error, str) else type(error).__name__


class KeepTopCheckpoints(tune.Callback):
    """Delete the Lightning checkpoints of finished trials outside the study's top ``k`` (bounded disk)."""

    def __init__(self, k: int, metric: str, mode: str) -> None:
        self.k, self.metric, self.sign = k, metric, 1 if mode == "max" else -1
        self.finished: list[tuple[float, Path]] = []

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        score = (trial.last_result or {}).get(self.metric)
        if score is None or not trial.path:
            return
        self.finished.append((self.sign * float(score), Path(trial.path)))
        self.finished.sort(key=lambda item: item[0], reverse=True)
        for _, path in self.finished[self.k :]:
            for ckpt in (path / "checkpoints").glob("*.ckpt"):
                ckpt.unlink()
                log.debug("removed checkpoint outside the top %d: %s", self.k, ckpt)


class TrialLines(tune.Callback):
    """One line per finished trial, instead of Ray's tables (the study runs with ``verbose=0``)::

    bow_mr_8720d555  val/acc 0.5566  test/acc 0.5391  2.5 s   (3 done; best 0.5566: bow_mr_8720d555)
    mha_mr_1c2d3e4f  stopped after round 2: val/acc 0.7012  41.0 s   (4 done; ...)
    mha_mr_9e8f7a6b  no score: it ended before its first report (the study's deadline)   (5 done; ...)
    cnn_mr_5a6b7c8d  failed: ValueError: ... (traceback: <its dir>/error.txt)
    """

    def __init__(self, metric: str, mode: str) -> None:
        self.metric, self.sign = metric, 1 if mode == "max" else -1
        self.done = 0
        self.best: tuple[float, str] | None = None

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        score = result.get(self.metric)
        self.done += 1
        if score is None:
            self._line(trial, "no score: it ended before its first report (the study's deadline)")
            return
        if self.best is None or self.sign * score > self.sign * self.best[0]:
            self.best = (float(score), str(trial))
        text = f"{self.metric} {_num(score)}"
        test = result.get(test_of(self.metric))
        if not result.get("final"):
            text = f"stopped after round {result.get('training_iteration', '?')}: {text}"
        elif test is not None:
            text += f"  {test_of(self.metric)} {_num(test)}"
        self._line(trial, f"{text}  {result.get('time_total_s', 0.0):.1f} s")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.done += 1
        staged = Path(trial.error_file) if trial.error_file else None  # Ray's copy before it syncs to the study
        text = staged.read_text(errors="replace") if staged is not None and staged.is_file() else ""
        self._line(trial, f"failed: {_error_line(text) or 'an error'} (traceback: {Path(trial.path) / 'error.txt'})")

    def _line(self, trial: Any, text: str) -> None:
        best = f"best {_num(self.best[0])}: {self.best[1]}" if self.best else "none scored yet"
        print(f"{trial}  {text}   ({self.done} done; {best})", flush=True)


def _num(value: Any) -> str:
    return "-" if value is None else f"{float(value):.4g}"
