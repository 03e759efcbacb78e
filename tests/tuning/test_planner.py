"""The sweep's planner: budgets, trial costs, priors, and an allocation that secures the likely winners first."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.tuning.planner import priors
from attentune.tuning.planner.cost import RAY_START_S, TrialCost, auto_budget, contention, parse_budget, too_small
from attentune.tuning.planner.plan import StudyBudget, SweepPlan, share
from attentune.tuning.planner.probe import RunCost


@pytest.mark.parametrize(
    ("value", "seconds"), [(1800, 1800.0), ("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0), ("1h30m", 5400.0)]
)
def test_budgets_parse_as_seconds(value, seconds):
    assert parse_budget(value) == seconds


@pytest.mark.parametrize("value", ["30 minutes", "m", "-5m", 0, "10x"])
def test_a_bad_budget_is_a_config_error(value):
    with pytest.raises(ConfigError, match="budget"):
        parse_budget(value)


def entry(key: str, trial_s: float, chance: float = 0.2, cap: float = math.inf) -> StudyBudget:
    """A study whose floor (one trial plus its study's start-up) is ``trial_s``."""
    trial_s -= RAY_START_S
    return StudyBudget(key=key, name=key, family=key, win_chance=chance, trial_s=trial_s, max_useful_s=cap)


def test_studies_share_what_the_floors_leave_by_chance_to_win_times_trial_cost_within_the_caps():
    studies = [entry("cheap", 20, 0.2), entry("dear", 110, 0.2), entry("likely", 20, 0.6)]
    out = share(studies, 1000)
    assert sum(out.values()) == pytest.approx(1000)
    extra = {s.key: out[s.key] - s.floor() for s in studies}
    # extra time buys each study trials in proportion to its chance: time in proportion to chance x trial cost
    assert extra["likely"] == pytest.approx(3 * extra["cheap"])
    assert extra["dear"] / (110 - RAY_START_S) == pytest.approx(extra["cheap"] / (20 - RAY_START_S))
    capped = share([entry("small", 20, cap=50), entry("big", 20)], 1000)  # num_samples can use only 50 s
    assert capped == pytest.approx({"small": 50, "big": 950})


def test_the_likeliest_winners_get_their_trial_first_and_selection_yields_to_them():
    # listed least likely first, as `model=` might list them; 1000 s: the floors of a and c (700 s) fit with
    # 300 s left, too little for b's 400 s: b, the least likely, is skipped, whatever the order of listing
    studies = [entry("b", 400, 0.1), entry("a", 300, 0.5), entry("c", 400, 0.4)]
    plan = SweepPlan(budget_s=1000, start=0.0, selection_s=250, studies=studies)
    plan.allot(now=0.0)
    assert plan.entry("b").skip.startswith("skipped: one trial needs ≈ 400 s, 300 s left; chance to win ≈ 10%")
    assert plan.entry("a").skip is None and plan.entry("c").skip is None
    # the seed re-runs wanted 250 s; they keep what is left after the floors (300 s), not more
    assert plan.reserve_s == pytest.approx(250)
    assert plan.entry("a").allotted_s + plan.entry("c").allotted_s == pytest.approx(750)
    # with 800 s the floors take 700 s: the seed re-runs get only the 100 s left, no family is pushed out
    tight = SweepPlan(budget_s=800, start=0.0, selection_s=200, studies=[entry("a", 300, 0.5), entry("c", 400, 0.4)])
    tight.allot(now=0.0)
    assert tight.reserve_s == pytest.approx(100) and all(s.skip is None for s in tight.studies)
    assert tight.fits_all_s(0.25) == pytest.approx((700, 700 / 0.75))


def test_a_starting_study_shares_what_is_really_left_and_a_skipped_one_is_reconsidered():
    plan = SweepPlan(budget_s=1000, start=0.0, selection_s=0, studies=[entry("a", 300, 0.5), entry("b", 400, 0.3)])
    plan.allot(now=0.0)
    plan.entry("a").started = 0.0
    plan.allot(now=700.0, first=plan.entry("b"))  # a overran: b's 400 s no longer fit in 300 s
    assert plan.entry("b").skip.startswith("skipped: one trial needs ≈ 400 s, 300 s left")
    plan.allot(now=500.0, first=plan.entry("b"))  # had a finished at 500 s, b would get all that is left
    assert plan.entry("b").skip is None and plan.entry("b").allotted_s == pytest.approx(500)


def test_an_auto_budget_is_forty_minutes_or_what_this_machine_needs_for_every_family_and_some_search():
    assert auto_budget(600.0, 0.25) == 2400.0  # a fast CPU: the 40 minutes that were measured to be enough
    assert auto_budget(2400.0, 0.25) == pytest.approx(1.5 * 2400 / 0.75)  # a slow one: every family + search
    assert parse_budget("auto") is None and parse_budget("AUTO") is None  # decided by the planner, not parsed


def test_trials_side_by_side_on_fewer_cores_than_ray_was_told_cost_more_than_the_probe():
    assert contention(cores=2, ray_cpus=2, max_concurrent=2, trial_cpus=1) == 1.0
    assert contention(cores=1, ray_cpus=2, max_concurrent=2, trial_cpus=1) == 2.0  # taskset -c 0
    assert contention(cores=1, ray_cpus=2, max_concurrent=1, trial_cpus=2) == 1.0  # MiniLM: probed with 2 threads
    assert contention(cores=16, ray_cpus=2, max_concurrent=2, trial_cpus=1) == 1.0


def test_plans_survive_a_round_trip_through_their_file(tmp_path):
    plan = SweepPlan(budget_s=60, start=1.0, selection_s=15, studies=[entry("a", 15.0)])
    plan.allot(now=1.0)
    plan.entry("a").started, plan.entry("a").finished = 2.0, 30.0
    plan.save(tmp_path / "plan.json")
    again = SweepPlan.load(tmp_path / "plan.json")
    assert again == plan and again.studies_deadline == 46.0 and again.entry("a").actual_s == 28.0


def test_priors_follow_the_data_size_and_a_family_far_below_the_reference_loses_its_chance():
    rows = [
        {"family": "pre", "n_train": 5000, "words": 15, "gain": 5.0},
        {"family": "pre", "n_train": 50000, "words": 15, "gain": -4.0},
        {"family": "small", "n_train": 5000, "words": 15, "gain": -1.0},
        {"family": "small", "n_train": 50000, "words": 15, "gain": 2.0},
    ]
    near_small = {f: priors.expected_gain(rows, f, 6000, 15) for f in ("pre", "small")}
    near_large = {f: priors.expected_gain(rows, f, 40000, 15) for f in ("pre", "small")}
    assert near_small["pre"].mean > 2 > near_large["pre"].mean
    chances = priors.win_chances(near_small)
    assert chances["pre"] > 0.5 > chances["small"] and sum(chances.values()) < 1  # the reference wins the rest
    assert priors.win_chances(near_large)["small"] > priors.win_chances(near_large)["pre"]
    assert priors.expected_gain(rows, "unknown", 6000, 15) == priors.UNKNOWN
    # the shipped table has every built-in classification family, and MiniLM leads on mr-sized data
    shipped = priors.load_observations(None)
    gains = {f: priors.expected_gain(shipped, f, 8000, 20) for f in ("mha", "bow", "cnn", "bilstm", "minilm")}
    assert all(g.evidence > 0 for g in gains.values())
    assert max(priors.win_chances(gains).items(), key=lambda kv: kv[1])[0] == "minilm"


def test_a_users_finished_sweeps_join_the_priors(tmp_path):
    priors.record(tmp_path, [{"family": "cnn", "n_train": 8000, "words": 20, "gain": 9.0, "task": "classification"}])
    (tmp_path / priors.USER_FILE).open("a").write("{cut by a crash\n")
    rows = priors.load_observations(tmp_path)
    assert rows[-1]["gain"] == 9.0 and len(rows) == len(priors.load_observations(None)) + 1
    assert priors.load_observations(tmp_path, task="qa") == []


def test_a_finished_sweep_teaches_the_priors_its_validation_gains_once(tmp_path):
    plan = SweepPlan(budget_s=60, start=7.0, selection_s=15, studies=[entry("a", 15.0), entry("b", 15.0)])
    plan.reference = {"n_train": 11000, "words": 11.1, "val": 0.55}
    plan.entry("a").family, plan.entry("a").observed = "minilm", 0.61
    plan.entry("b").family = "cnn"  # skipped or unfinished: it scored nothing, so it teaches nothing
    rows = plan.observations("health", "classification")
    assert [(r["family"], r["gain"], r["n_train"], r["sweep"]) for r in rows] == [("minilm", 6.0, 11000, 7.0)]
    assert priors.record(tmp_path, rows) == 1 and priors.record(tmp_path, rows) == 0  # selection re-run: once
    learned = priors.load_observations(tmp_path)[-1]
    assert learned["data"] == "health" and priors.expected_gain([learned], "minilm", 11000, 11.1).mean == 6.0
    assert SweepPlan(budget_s=60, start=8.0, selection_s=15, studies=[]).observations("x", "qa") == []


COST = RunCost(
    setup_s=2.0,
    train_s_per_example=0.001,
    eval_s_per_example=0.0005,
    checkpoint_s=0.1,
    n_train=9000,
    n_val=1000,
    n_test=1000,
    batch_size=32,
    n_examples=9000,
)


def test_a_trial_costs_its_rounds_of_training_and_validation_then_its_test():
    trial = OmegaConf.create({"trainer": {"max_epochs": 18, "limit_train_batches": 1 / 3}})
    cost = TrialCost.of(COST, trial, safety=1.0)
    round_s = 3000 * 0.001 + 1000 * 0.0005 + 0.1
    assert cost.rounds == 18 and cost.first_round_s == pytest.approx(8.0 + 2.0 + round_s)
    assert cost.full_s == pytest.approx(8.0 + 2.0 + 18 * round_s + cost.finish_s)
    assert TrialCost.of(COST, trial, safety=1.5).full_s > cost.full_s


def test_data_smaller_than_a_batch_or_a_round_cannot_train():
    trial = OmegaConf.create({"trainer": {"max_epochs": 3, "limit_train_batches": 1 / 3}})
    assert too_small(COST, trial) is None
    small = RunCost(**{**COST.as_dict(), "n_train": 20})
    assert "fewer than one batch (batch_size=32)" in too_small(small, trial)
    two_batches = RunCost(**{**COST.as_dict(), "n_train": 64})
    assert "less than a batch" in too_small(two_batches, trial)
