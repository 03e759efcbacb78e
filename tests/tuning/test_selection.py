"""The leaderboard's per-study row, from trials tables (no Ray run needed)."""

from __future__ import annotations

import math

import pandas as pd

from attentune.tuning.selection import family_table


def study(name: str, rows: list[tuple]) -> dict:
    trials = pd.DataFrame(rows, columns=["status", "val/acc", "test/acc"]).sort_values("val/acc", ascending=False)
    return {"study": name, "trials": trials}


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
