"""report.html of a sweep (its leaderboard, plan and plots) or of one run (its metrics and learning curve).

``tune.py -m`` writes the sweep's next to its leaderboard when selection ends; ``report.py sweep_dir=...`` or
``run_dir=...`` writes either again. The page is built from the files the sweep or run already wrote
(leaderboard.md, budget_plan.json, summary.json, the PNGs; metrics.json, config.yaml, csv/metrics.csv), so it
never disagrees with them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import markdown
import pandas as pd

from attentune.errors import ConfigError
from attentune.reports.html import esc, figure_uri, image, plt, table, write


def _png(path: Path) -> str | None:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode() if path.is_file() else None


def _plan(plan: dict[str, Any]) -> str:
    rows = []
    for s in plan.get("studies", []):
        planned = s.get("allotted_s")
        rows.append([s.get("name"), f"{100 * (s.get('win_chance') or 0):.0f}%", _s(s.get("trial_s")), _s(planned),
                     _s(s.get("actual_s")), s.get("skip") or ""])  # fmt: skip
    head = f"<p>Budget {_s(plan.get('budget_s'))} s; probing {_s(plan.get('probe_s'))} s.</p>"
    return head + table(["study", "chance to win", "one trial s", "planned s", "used s", "skipped"], rows)


def _s(value: Any) -> str:
    return "" if value is None else f"{float(value):,.0f}"


def sweep_report(sweep_dir: Path) -> Path:
    board = sweep_dir / "leaderboard.md"
    if not board.is_file():
        raise ConfigError(f"sweep_dir: {sweep_dir} has no leaderboard.md (not a finished tune.py -m sweep)")
    text = board.read_text().split("\n", 1)[1]  # its "# Leaderboard" title is the page's
    sections = [("", markdown.markdown(text, extensions=["tables"]))]
    summary = sweep_dir / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        winner = f"<p>Winner: {esc(s.get('winner_name'))}; its model: <code>{esc(s.get('winner'))}</code></p>"
        sections.insert(0, ("", winner))
    plan = sweep_dir / "budget_plan.json"
    if plan.is_file():
        sections.append(("Budget: planned and used", _plan(json.loads(plan.read_text()))))
    for name, title in (
        ("accuracy_vs_latency.png", "Accuracy and latency"),
        ("learning_curves.png", "Learning curves"),
    ):
        uri = _png(sweep_dir / name)
        if uri:
            sections.append((title, image(uri, title)))
    return write(sweep_dir / "report.html", f"Sweep {sweep_dir.name}", sections)


def run_report(run_dir: Path) -> Path:
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        raise ConfigError(f"run_dir: {run_dir} has no metrics.json (not a finished train.py run)")
    metrics = json.loads(metrics_file.read_text())
    rows = [
        [k, f"{v:.4g}" if isinstance(v, float) else v] for k, v in metrics.items() if not isinstance(v, dict | list)
    ]
    sections = [("Metrics", table(["metric", "value"], rows))]
    curves = sorted(run_dir.glob("csv/**/metrics.csv"))
    if curves:
        frame = pd.read_csv(curves[-1])
        cols = [c for c in frame.columns if c.startswith("val/") and not c.endswith("_best")]
        if cols and "epoch" in frame:
            fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
            for c in cols:
                points = frame[["epoch", c]].dropna()
                ax.plot(points["epoch"], points[c], marker="o", label=c)
            ax.set(xlabel="epoch", title="validation")
            ax.legend()
            sections.append(
                ("Learning curve", image(figure_uri(fig, run_dir / "learning_curve.png"), "learning curve"))
            )
    config = run_dir / "config.yaml"
    if config.is_file():
        sections.append(("Configuration", f"<pre>{esc(config.read_text())}</pre>"))
    return write(run_dir / "report.html", f"Run {run_dir}", sections)


def report(cfg: Any) -> dict[str, str]:
    """``report.py``: exactly one of ``sweep_dir`` and ``run_dir``."""
    if bool(cfg.sweep_dir) == bool(cfg.run_dir):
        raise ConfigError("give sweep_dir=<a tune.py -m sweep> or run_dir=<a train.py run>, one of them")
    path = sweep_report(Path(cfg.sweep_dir)) if cfg.sweep_dir else run_report(Path(cfg.run_dir))
    print(f"report: {path}")
    return {"report": str(path)}
