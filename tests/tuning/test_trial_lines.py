"""A study's line per finished trial (TrialLines), from Ray's trial objects as the callback sees them."""

from __future__ import annotations

from types import SimpleNamespace

from attentune.tuning.results import TrialLines


class Trial(SimpleNamespace):
    def __str__(self) -> str:  # Ray's Trial prints as its name
        return self.name


def test_each_trial_gets_a_line_with_its_score_or_why_it_has_none_and_the_best_so_far(capsys):
    lines = TrialLines("val/loss", "min")
    lines.on_trial_complete(0, [], Trial(name="t1", last_result={"val/loss": 0.5, "test/loss": 0.6, "final": True}))
    lines.on_trial_complete(0, [], Trial(name="t2", last_result={"val/loss": 0.7, "training_iteration": 2}))
    lines.on_trial_complete(0, [], Trial(name="t3", last_result={}))
    t1, t2, t3 = capsys.readouterr().out.splitlines()
    assert t1.startswith("t1  val/loss 0.5  test/loss 0.6  0.0 s") and t1.endswith("(1 done; best 0.5: t1)")
    assert t2.startswith("t2  stopped after round 2: val/loss 0.7") and t2.endswith("(2 done; best 0.5: t1)")
    assert t3.startswith("t3  no score: it ended before its first report") and "(3 done; best 0.5: t1)" in t3
