"""The sweep's budget policy: parsing, sharing, skipping (pure functions, no Ray)."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.tasks.probe import RunCost
from attentune.tuning.budget import StudyBudget, SweepPlan, TrialCost, parse_budget, share, too_small


@pytest.mark.parametrize(
    ("value", "seconds"), [(1800, 1800.0), ("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0), ("1h30m", 5400.0)]
)
def test_budgets_parse_as_seconds(value, seconds):
    assert parse_budget(value) == seconds


@pytest.mark.parametrize("value", ["30 minutes", "m", "-5m", 0, "10x"])
def test_a_bad_budget_is_a_config_error(value):
    with pytest.raises(ConfigError, match="budget"):
        parse_budget(value)


def entry(key: str, trial_s: float, weight: float = 1.0, cap: float = math.inf) -> StudyBudget:
    return StudyBudget(key=key, name=key, weight=weight, trial_s=trial_s, max_useful_s=cap)


def test_studies_share_in_proportion_to_weight_times_trial_cost_within_floor_and_cap():
    studies = [entry("cheap", 10), entry("dear", 100), entry("weighted", 10, weight=2)]
    out = share(studies, 1000)
    assert sum(out.values()) == pytest.approx(1000)
    extra = {k: out[k] - s.trial_s for k, s in zip(out, studies, strict=True)}
    assert extra["dear"] == pytest.approx(10 * extra["cheap"]) and extra["weighted"] == pytest.approx(
        2 * extra["cheap"]
    )
    # a study whose num_samples can use only 50 s gives the rest to the others
    capped = share([entry("small", 10, cap=50), entry("big", 10)], 1000)
    assert capped == pytest.approx({"small": 50, "big": 950})


def test_a_plan_skips_what_cannot_fit_and_a_starting_study_shares_what_is_really_left():
    plan = SweepPlan(
        budget_s=1000, start=0.0, selection_s=200, studies=[entry("a", 300), entry("b", 400), entry("c", 200)]
    )
    plan.allot(now=0.0)  # 800 s for studies: a and b fit (700 s), c's 200 s no longer does
    assert plan.entry("c").skip == "skipped: one trial needs ≈ 200 s, 100 s left"
    assert plan.entry("a").allotted_s + plan.entry("b").allotted_s == pytest.approx(800)
    # a finished early: at t=350 b starts and gets everything left (450 s)
    plan.entry("a").started = 0.0
    plan.allot(now=350.0, first=plan.entry("b"))
    assert plan.entry("b").allotted_s == pytest.approx(450)
    # ... and c, skipped for time at first, fits again in what a finished b leaves
    plan.entry("b").started = 350.0
    plan.allot(now=500.0)
    assert plan.entry("c").skip is None and plan.entry("c").allotted_s == pytest.approx(300)
    # an overrun leaves c less than one trial: skipped when it starts, with what was left
    plan.allot(now=700.0, first=plan.entry("c"))
    assert plan.entry("c").skip == "skipped: one trial needs ≈ 200 s, 100 s left"


def test_plans_survive_a_round_trip_through_their_file(tmp_path):
    plan = SweepPlan(budget_s=60, start=1.0, selection_s=15, studies=[entry("a", 5.0)])
    plan.allot(now=1.0)
    plan.save(tmp_path / "plan.json")
    again = SweepPlan.load(tmp_path / "plan.json")
    assert again == plan and again.studies_deadline == 46.0


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
