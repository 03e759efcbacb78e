"""A trial keeps its study's deadline: it stops training in time to test its best checkpoint."""

from __future__ import annotations

import time
from types import SimpleNamespace

import lightning as L
import pytest

from attentune.tasks.train import train
from attentune.tuning.deadline import (
    DeadlinePassed,
    LearnTrialCosts,
    StopBeforeDeadline,
    read_deadline,
    too_late_to_start,
    write_deadline,
)


class DeadlineFromFitStart(L.Callback):
    """Set the deadline when training starts (data and tokenizer preparation vary with the machine's load)."""

    def __init__(self, stop: StopBeforeDeadline, seconds: float) -> None:
        self.stop, self.seconds = stop, seconds

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.stop.deadline = time.time() + self.seconds


def test_a_run_past_its_deadline_stops_after_the_round_and_still_tests(cfg_train):
    # tiny rounds (4 batches) take well under the 2 s; 1000 of them could not finish
    cfg = cfg_train("trainer.max_epochs=1000", "callbacks=none")
    stop = StopBeforeDeadline(deadline=time.time() + 3600)
    metrics = train(cfg, callbacks=[DeadlineFromFitStart(stop, 2.0), stop])
    assert metrics["epochs"] < 1000 and stop.stopped_early
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["latency_ms/b1"] > 0


def test_a_distant_deadline_changes_nothing(cfg_train):
    stop = StopBeforeDeadline(deadline=time.time() + 3600)
    metrics = train(cfg_train("trainer.max_epochs=3", "callbacks=none"), callbacks=[stop])
    assert metrics["epochs"] == 3 and not stop.stopped_early


def test_the_study_learns_what_its_trials_take_to_start_and_to_finish(tmp_path):
    deadline = time.time() + 60
    write_deadline(tmp_path, deadline, first_round_s=0.0, finish_s=0.0)  # time_budget_s given: no probe
    learn = LearnTrialCosts(tmp_path)
    a, b = SimpleNamespace(trial_id="a"), SimpleNamespace(trial_id="b")
    for trial, result in [
        (a, {"time_total_s": 9.0, "iterations_since_restore": 1, "time_since_restore": 9.0}),  # start-up + round
        (b, {"time_total_s": 4.0, "iterations_since_restore": 1, "time_since_restore": 4.0}),
        (a, {"time_total_s": 12.0, "iterations_since_restore": 2, "time_since_restore": 12.0}),
        (a, {"time_total_s": 17.0, "iterations_since_restore": 3, "final": True}),  # test + latency: 5 s
        # b resumed after a pause: its first report since the restore counts 3 s, not its 40 s in all
        (b, {"time_total_s": 40.0, "iterations_since_restore": 1, "time_since_restore": 3.0}),
        (b, {"time_total_s": 42.0, "iterations_since_restore": 2, "final": True}),
    ]:
        learn.on_trial_result(0, [], trial, result)
    assert read_deadline(tmp_path) == {"deadline": deadline, "first_round_s": 9.0, "finish_s": 5.0}
    assert not too_late_to_start(read_deadline(tmp_path))  # 14 s of 60 left
    write_deadline(tmp_path, time.time() + 10, first_round_s=9.0, finish_s=5.0)
    assert too_late_to_start(read_deadline(tmp_path))


class Steps(L.Callback):
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.steps = trainer.global_step


def test_a_round_that_outruns_the_deadline_is_cut_and_a_run_that_never_validated_gives_up(cfg_train, tmp_path):
    # a round of the whole training set (528 batches); the deadline comes inside the first one
    cfg = cfg_train("trainer.max_epochs=30", "trainer.limit_train_batches=1.0", "callbacks=none")
    stop, steps = StopBeforeDeadline(deadline=time.time() + 0.5), Steps()
    stop._val_s = stop._test_s = 1e-3  # as if it had validated once: a checkpoint to test, so it stops
    metrics = train(cfg, callbacks=[stop, steps])
    assert stop.stopped_early and 0 < steps.steps < 528
    assert metrics["val/acc_best"] == metrics["val/acc_best"]  # Lightning validated the cut round (not NaN)
    assert 0.0 <= metrics["test/acc"] <= 1.0
    # not validated yet and the deadline has passed: nothing to test, no run written
    late = cfg_train("trainer.max_epochs=3", "callbacks=none", output_dir=tmp_path / "late")
    with pytest.raises(DeadlinePassed):
        train(late, callbacks=[StopBeforeDeadline(deadline=time.time() - 1)])
    assert not (tmp_path / "late" / "metrics.json").exists()
