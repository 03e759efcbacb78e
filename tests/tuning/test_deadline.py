"""A trial keeps its study's deadline: it stops training in time to test its best checkpoint."""

from __future__ import annotations

import time

from attentune.tasks.train import train
from attentune.tuning.deadline import StopBeforeDeadline


def test_a_run_past_its_deadline_stops_after_the_round_and_still_tests(cfg_train):
    cfg = cfg_train("trainer.max_epochs=30", "callbacks=none")
    stop = StopBeforeDeadline(deadline=time.time() + 0.5)
    metrics = train(cfg, callbacks=[stop])
    assert metrics["epochs"] < 30 and stop.stopped_early
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["latency_ms/b1"] > 0


def test_a_distant_deadline_changes_nothing(cfg_train):
    stop = StopBeforeDeadline(deadline=time.time() + 3600)
    metrics = train(cfg_train("trainer.max_epochs=3", "callbacks=none"), callbacks=[stop])
    assert metrics["epochs"] == 3 and not stop.stopped_early
