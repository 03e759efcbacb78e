"""The leaderboard's per-study row, from trials tables (no Ray run needed)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.tuning.selection import family_table, seed_table, select


def study(name: str, rows: list[tuple], metric: str = "val/acc", mode: str = "max") -> dict:
    trials = pd.DataFrame(rows, columns=["status", metric, "test/acc"])
    return {"study": name, "trials": trials.sort_values(metric, ascending=mode == "min")}


def test_leaderboard_row_is_the_best_trial_that_finished_else_the_best_stopped_one():
    board = family_table(
        [
            study("a", [("STOPPED", 0.80, math.nan), ("TERMINATED", 0.70, 0.69), ("ERROR", math.nan, math.nan)]),
            study("b", [("STOPPED", 0.60, math.nan), ("STOPPED", 0.65, math.nan)]),
        ],
        "val/acc",
    ).set_index("study")
    assert (board.loc["a", "best val/acc"], board.loc["a", "test/acc"]) == (0.70, 0.69)
    assert (board.loc["a", "trials"], board.loc["a", "failed"]) == (3, 1)
    assert board.loc["b", "best val/acc"] == 0.65 and math.isnan(board.loc["b", "test/acc"])
    assert list(board.index) == ["a", "b"]  # ranked by the metric


def test_a_metric_to_minimise_ranks_the_lowest_first():
    board = family_table(
        [
            study("a", [("TERMINATED", 0.50, 0.70)], "val/loss", "min"),
            study("b", [("TERMINATED", 0.30, 0.60)], "val/loss", "min"),
        ],
        "val/loss",
        "min",
    )
    assert list(board["study"]) == ["b", "a"]
    runs = pd.DataFrame(
        [(rank, f"s{rank}", f"t{rank}", seed, loss, 0.5) for rank, loss in ((1, 0.4), (2, 0.2)) for seed in (1, 2)],
        columns=["rank", "study", "trial_id", "seed", "val/loss", "test/acc"],
    )
    assert list(seed_table(runs, "val/loss", "min")["study"]) == ["s2", "s1"]
    assert list(seed_table(runs, "val/loss", "max")["study"]) == ["s1", "s2"]


def test_selection_refuses_studies_that_monitor_different_metrics(tmp_path):
    for name, metric, mode in (("a", "val/acc", "max"), ("b", "val/loss", "min")):
        run_dir = tmp_path / name
        run_dir.mkdir()
        summary = {"study": name, "family": name, "metric": metric, "mode": mode}
        (run_dir / "study.json").write_text(json.dumps(summary))
        pd.DataFrame([("TERMINATED", 0.5, 0.5)], columns=["status", metric, "test/acc"]).to_csv(run_dir / "trials.csv")
        (run_dir / "base_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="different metrics"):
        select(OmegaConf.create({"sweep_dir": str(tmp_path)}))
