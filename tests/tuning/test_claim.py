"""A study's side of the plan: giving time back when its first trial is far below the reference."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from attentune.tuning.claim import YieldWhenBehind
from attentune.tuning.deadline import read_deadline, write_deadline


def finished(score: float, final: bool = True, lr: float = 1e-3) -> SimpleNamespace:
    return SimpleNamespace(last_result={"val/acc": score, "final": final}, config={"optimizer.lr": lr})


@pytest.mark.parametrize(("first", "halved"), [(0.70, True), (0.79, False)])
def test_a_study_far_below_the_reference_gives_back_half_of_its_time_once(tmp_path, first, halved):
    deadline = time.time() + 1000
    write_deadline(tmp_path, deadline, first_round_s=5.0, finish_s=2.0)
    default = {"optimizer.lr": 1e-3}
    callback = YieldWhenBehind(tmp_path, reference=0.80, metric="val/acc", mode="max", behind=5.0, default=default)
    callback.on_trial_complete(0, [], finished(0.50, final=False))  # stopped early by a scheduler: not counted
    callback.on_trial_complete(0, [], finished(0.50, lr=0.3))  # a sampled configuration that diverged: neither
    assert read_deadline(tmp_path)["deadline"] == deadline
    callback.on_trial_complete(0, [], finished(first))
    after = read_deadline(tmp_path)
    if halved:  # 10 points below: half of the ~1000 s left
        assert after["deadline"] == pytest.approx(time.time() + 500, abs=5)
    else:  # 1 point below: keeps its time
        assert after["deadline"] == deadline
    assert (after["first_round_s"], after["finish_s"]) == (5.0, 2.0)
    callback.on_trial_complete(0, [], finished(0.10))  # the default configuration's trial counts once
    assert read_deadline(tmp_path) == after
