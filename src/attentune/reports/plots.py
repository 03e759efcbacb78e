"""PNG plots: accuracy vs latency (with its Pareto front) and learning curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def pareto_front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows not dominated by another row with lower-or-equal ``x`` and higher-or-equal ``y`` (one strictly)."""
    ordered = points.sort_values([x, y], ascending=[True, False])
    front, best = [], float("-inf")
    for idx, row in ordered.iterrows():
        if row[y] > best:
            front.append(idx)
            best = row[y]
    return points.loc[front].sort_values(x)


def plot_accuracy_latency(trials: pd.DataFrame, x: str, y: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for family, group in trials.groupby("family"):
        ax.scatter(
            group[x],
            group[y],
            label=family,
            alpha=0.7,
            s=18 + 40 * group["num_params"] / trials["num_params"].max(),
        )
    front = pareto_front(trials, x, y)
    ax.plot(front[x], front[y], "k--", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set(xlabel=f"{x} (log)", ylabel=y, title="accuracy vs latency (marker size ~ parameters)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_learning_curves(curves: dict[str, pd.DataFrame], metric: str, path: Path) -> None:
    """``curves``: label -> frame with columns ``epoch`` and ``metric``."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, frame in curves.items():
        ax.plot(frame["epoch"], frame[metric], marker="o", ms=3, label=label)
    ax.set(xlabel="epoch", ylabel=metric, title="learning curves (best trial of each study)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
