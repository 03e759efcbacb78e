"""The leaderboard's per-study row, from trials tables (no Ray run needed)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.reports.leaderboard import to_markdown
from attentune.tuning.seeds import fit_jobs, seed_jobs, seed_table
from attentune.tuning.selection import family_table, select, verdict

MR = {"_target_": "attentune.data.builtin.load_mr", "cache_dir": None}


def study(name: str, rows: list[tuple], metric: str = "val/acc", mode: str = "max", test: str = "test/acc") -> dict:
    trials = pd.DataFrame(rows, columns=["status", metric, test])
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


def test_a_best_trial_that_is_the_default_is_one_row_marked_so(tmp_path):
    # as load_studies reads trials.csv: `default` is a nullable boolean column (numpy bools, not Python's)
    (tmp_path / "t.csv").write_text("status,val/acc,test/acc,default\nTERMINATED,0.92,0.90,True\nSTOPPED,0.89,,False\n")
    trials = pd.read_csv(tmp_path / "t.csv", dtype={"default": "boolean"})
    board = family_table([{"study": "a", "trials": trials}], "val/acc")
    assert list(board["row"]) == ["best = default"]
    trials.loc[0, "default"] = False
    trials.loc[1, "default"] = pd.NA
    board = family_table([{"study": "a", "trials": trials}], "val/acc")
    assert list(board["row"]) == ["best"]  # no default row: no trial is marked as the default


def test_a_metric_to_minimise_ranks_the_lowest_first_and_reports_its_test_counterpart():
    both = [
        pd.DataFrame([("TERMINATED", 0.50, 0.70, 0.66)], columns=["status", "val/loss", "test/loss", "test/acc"]),
        pd.DataFrame([("TERMINATED", 0.30, 0.60, 0.61)], columns=["status", "val/loss", "test/loss", "test/acc"]),
    ]
    board = family_table([{"study": n, "trials": t} for n, t in zip("ab", both, strict=True)], "val/loss", "min")
    assert list(board["study"]) == ["b", "a"]
    # the monitored metric's test counterpart comes first, the task's other test metrics after it
    assert [c for c in board.columns if c.startswith("test/")] == ["test/loss", "test/acc"]
    assert list(board["test/loss"]) == [0.60, 0.70]
    runs = pd.DataFrame(
        [
            (rank, f"s{rank}", f"t{rank}", seed, loss, loss + 0.1)
            for rank, loss in ((1, 0.4), (2, 0.2))
            for seed in (1, 2)
        ],
        columns=["rank", "study", "trial_id", "seed", "val/loss", "test/loss"],
    )
    seeds = seed_table(runs, "val/loss", "min")
    assert list(seeds["study"]) == ["s2", "s1"] and list(seeds["test/loss mean"]) == pytest.approx([0.3, 0.5])
    assert list(seed_table(runs, "val/loss", "max")["study"]) == ["s1", "s2"]
    # a winner whose test loss is higher than a default's is worse, not "below" it
    families = board.assign(row=["default", "best"])
    (note,) = verdict(families, 0.70, "a", "test/loss", mode="min")
    assert "scores test/loss 0.7000, worse than a default configuration (b's default configuration) at 0.6000" in note


def test_a_qa_leaderboard_shows_exact_match_and_f1():
    trials = pd.DataFrame(
        [("TERMINATED", 0.52, 0.50, 0.40, 0.9)], columns=["status", "val/f1", "test/f1", "test/exact", "test/loss"]
    )
    board = family_table([{"study": "mha_squad", "trials": trials}], "val/f1")
    assert [c for c in board.columns if c.startswith("test/")] == ["test/f1", "test/exact"]  # not the loss


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


def test_a_study_that_ran_no_trial_is_listed_and_the_others_still_plotted(tmp_path):
    # A time budget shorter than a trial's start leaves a study with an empty trials.csv (header only).
    columns = ["trial_id", "status", "val/acc", "test/acc", "num_params", "latency_ms/b1", "trial_dir"]
    rows = {"ran": [("t0", "TERMINATED", 0.7, 0.69, 1000, 0.5, str(tmp_path / "t0"))], "none": []}
    for name, trials in rows.items():
        (tmp_path / name).mkdir()
        summary = {"study": name, "family": name, "metric": "val/acc", "mode": "max"}
        (tmp_path / name / "study.json").write_text(json.dumps(summary))
        pd.DataFrame(trials, columns=columns).to_csv(tmp_path / name / "trials.csv", index=False)
        (tmp_path / name / "base_config.json").write_text(json.dumps({"base": {"data": MR}, "derived": {}}))
    cfg = {"sweep_dir": str(tmp_path), "selection": {"seeds": [], "pareto_x": "latency_ms/b1"}, "max_concurrent": 2}
    summary = select(OmegaConf.create(cfg))
    studies = [(s["study"], s["trials"]) for s in summary["studies"] if s["row"] != "reference"]
    assert studies == [("ran", 1), ("none", 0)]
    assert (tmp_path / "accuracy_vs_latency.png").stat().st_size > 0


ONE_CPU = {"cpu": 1.0, "gpu": 0.0}
TOP2 = OmegaConf.create({"top_k": 2, "max_per_study": 1, "seeds": [1]})


def test_seed_reruns_take_the_best_finished_configurations_capped_per_study_longest_first():
    def trials(name: str, rows: list[tuple]) -> dict:
        table = pd.DataFrame(rows, columns=["trial_id", "status", "val/acc", "train_seconds"])
        table["params"] = [json.dumps({"optimizer.lr": i}) for i in range(len(table))]
        return {"study": name, "trials": table, "base": {}, "derived": {}}

    studies = [
        trials("minilm", [("m1", "TERMINATED", 0.87, 300.0), ("m2", "TERMINATED", 0.86, 290.0)]),
        trials("mha", [("a1", "STOPPED", 0.90, 5.0), ("a2", "TERMINATED", 0.78, 60.0), ("a3", "ERROR", None, None)]),
        trials("bow", [("b1", "TERMINATED", 0.76, 10.0)]),
    ]
    selection = OmegaConf.create({"top_k": 2, "max_per_study": 1, "seeds": [1, 2, 1]})
    jobs = seed_jobs(studies, "val/acc", "max", selection, ONE_CPU)
    # one configuration per study (m2 is capped, a1 never finished), the top two, each seed once
    runs = [(j["rank"], j["trial_id"], j["seed"]) for j in jobs]
    assert runs == [(1, "m1", 1), (1, "m1", 2), (2, "a2", 1), (2, "a2", 2)]
    assert jobs[0]["params"] == {"optimizer.lr": 0, "seed": 1}

    uncapped = seed_jobs(studies, "val/acc", "max", OmegaConf.create({"top_k": 3, "seeds": [1]}), ONE_CPU)
    assert [j["trial_id"] for j in uncapped] == ["m1", "m2", "a2"]

    # ranks follow the metric; the order of the runs follows the trials' training time (longest first)
    studies[2]["trials"].loc[0, ["val/acc", "train_seconds"]] = [0.95, 400.0]
    jobs = seed_jobs(studies, "val/acc", "max", TOP2, ONE_CPU)
    assert [(j["rank"], j["trial_id"]) for j in jobs] == [(1, "b1"), (2, "m1")]
    studies[2]["trials"].loc[0, "train_seconds"] = 1.0
    jobs = seed_jobs(studies, "val/acc", "max", TOP2, ONE_CPU)
    assert [(j["rank"], j["trial_id"]) for j in jobs] == [(2, "m1"), (1, "b1")]


def test_seed_reruns_get_their_studys_resources_and_the_budget_counts_them():
    columns = ["trial_id", "status", "val/acc", "train_seconds", "time_total_s"]
    table = pd.DataFrame([("m1", "TERMINATED", 0.87, 300.0, 300.0)], columns=columns)
    table["params"] = [json.dumps({"optimizer.lr": 1e-4})]
    two_cpus = {"cpu": 2.0, "gpu": 0.0}
    minilm = {"study": "minilm", "trials": table, "base": {}, "derived": {}, "resources": two_cpus}
    bow = {"study": "bow", "trials": table.assign(trial_id="b1", **{"val/acc": 0.8}), "base": {}, "derived": {}}
    jobs = seed_jobs([minilm, bow], "val/acc", "max", OmegaConf.create({"top_k": 2, "seeds": [1, 2]}), ONE_CPU)
    assert [j["resources"] for j in jobs] == [two_cpus, two_cpus, ONE_CPU, ONE_CPU]  # bow: a sweep before resources
    # re-run where fewer CPUs are (a SLURM job's study, selected on the submitting machine): as many as there are
    capped = seed_jobs([minilm, bow], "val/acc", "max", OmegaConf.create({"top_k": 1, "seeds": [1]}), ONE_CPU, 1.0)
    assert [j["resources"] for j in capped] == [ONE_CPU]
    # on 2 CPUs: MiniLM's two runs one after the other (600 s), bow's two side by side (300 s)
    kept, note = fit_jobs(jobs, 1000.0, cpus=2.0)
    assert kept == [j | {"reused": False} for j in jobs] and note == ""
    # 800 s: bow's second seed does not fit; its own trial stands in for it rather than bow being left out
    kept, note = fit_jobs(jobs, 800.0, cpus=2.0)
    assert [(j["trial_id"], j["reused"]) for j in kept] == [("m1", False), ("m1", False), ("b1", True)]
    assert note == "seed re-runs (budget): bow trial b1: 1 fresh seed and its own trial"
    # 400 s: one MiniLM seed and its trial (310 s); bow's one re-run beside it would need 460 s: left out
    kept, note = fit_jobs(jobs, 400.0, cpus=2.0)
    assert [(j["trial_id"], j["reused"]) for j in kept] == [("m1", True)]
    assert note == (
        "seed re-runs (budget): minilm trial m1: 1 fresh seed and its own trial; "
        "1 of 2 configurations left out, they need ≈ 460 s and 400 s of the budget are left"
    )


def test_the_report_says_when_the_winner_is_below_the_reference_or_a_default_and_when_it_is_the_default():
    families = pd.DataFrame(
        [
            {"study": "minilm_mr", "row": "best = default", "test/acc": 0.8259, "note": ""},
            {"study": "reference (mr)", "row": "reference", "test/acc": 0.8051, "note": "TF-IDF"},
            {"study": "mha_mr", "row": "default", "test/acc": 0.80, "note": ""},
        ]
    )
    (below,) = verdict(families, 0.8250, "minilm_mr trial t1, mean of 3 seeds", "test/acc")
    assert "below a default configuration (minilm_mr's default configuration) at 0.8259" in below
    # the same configuration: its seeds' mean and its one trial differ by seed noise only
    (same,) = verdict(families, 0.8250, "minilm_mr trial t1, mean of 3 seeds", "test/acc", "minilm_mr")
    assert "is minilm_mr's default configuration; its one trial scored test/acc 0.8259" in same
    reference, default = verdict(families, 0.79, "bow_mr trial b1", "test/acc")
    assert "below the reference (TF-IDF) at 0.8051" in reference and "at 0.8259" in default
    assert verdict(families, 0.83, "bow_mr trial b1", "test/acc") == []


def test_leaderboard_numbers_are_for_people():
    table = pd.DataFrame(
        {
            "trial": ["54364293"],
            "params": pd.array([308694], dtype="Int64"),
            "params as float": [308694.0],
            "val/acc": [0.81234],
            "train s": [123.456],
            "seeds": [3],
        }
    )
    (row,) = to_markdown(table).splitlines()[2:]
    assert row == "| 54364293 | 308,694 | 308,694 | 0.8123 | 123.5 | 3 |"
