"""A study's deadline, kept by its trials and its searcher so that no time is spent on work that cannot finish.

The study writes ``deadline.json`` in its run dir at every (re)start, with what a trial needs to report
once (``first_round_s``: start-up and one round) and to finish (``finish_s``: test and latency), estimated
by the budget's probe and raised to what the study's trials really take (``LearnTrialCosts``). A trial ends
its training early enough to still test its best checkpoint and report before the deadline
(``StopBeforeDeadline``), so a trial cut by the budget keeps its test metrics; the searcher stops creating
trials that could not report once before it (``UntilDeadline``), and a trial that was created in time but
reaches a worker too late does not start training (``too_late_to_start``: random search creates its trials
up front). Ray's own ``time_budget_s`` stays behind all three as a hard stop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L
from ray.tune import Callback
from ray.tune.search import SearchAlgorithm

from attentune.tasks.train import write_json

DEADLINE_FILE = "deadline.json"


def write_deadline(run_dir: Path, deadline: float, first_round_s: float, finish_s: float) -> None:
    write_json(run_dir / DEADLINE_FILE, {"deadline": deadline, "first_round_s": first_round_s, "finish_s": finish_s})


def read_deadline(run_dir: Path) -> dict[str, float] | None:
    path = run_dir / DEADLINE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def too_late_to_start(info: dict[str, float] | None) -> bool:
    """Whether a trial starting now could not report once (and be tested) before the deadline."""
    return info is not None and time.time() + info["first_round_s"] + info["finish_s"] > info["deadline"]


class LearnTrialCosts(Callback):
    """Raise the deadline file's ``first_round_s`` and ``finish_s`` to the longest the study's trials took.

    A trial's first report comes after its start-up and first round (``time_total_s``); its final report
    (``final``) after testing and latency. Without a probe (``time_budget_s`` given) the estimates start at
    zero, and with one the machine may be busier than when it was probed: either way later decisions use what
    this machine really takes now.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._last: dict[str, float] = {}  # each trial's time_total_s at its last report

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        total = float(result.get("time_total_s", 0.0))
        previous = self._last.get(trial.trial_id)
        self._last[trial.trial_id] = total
        if result.get("final"):
            if previous is not None:
                self._raise("finish_s", total - previous)
        elif result.get("iterations_since_restore") == 1:  # a paused or resumed trial starts up again
            self._raise("first_round_s", float(result.get("time_since_restore", total)))

    def _raise(self, key: str, seconds: float) -> None:
        info = read_deadline(self.run_dir)
        if info is not None and seconds > info[key]:
            write_deadline(self.run_dir, **{**info, key: seconds})


class DeadlinePassed(Exception):
    """A trial reached its study's deadline before it validated once: it has nothing to test or report."""


class StopBeforeDeadline(L.Callback):
    """Stop training after the round whose successor would leave too little time to test and report.

    A round's cost is measured (training and validation of the last round); testing is estimated from the
    last validation's speed and the sizes of the two splits, plus the study's estimate of latency and
    checkpoint costs (``finish_s``). A round slower than that (a sampled configuration much larger than the
    ones before it) is cut after the batch that leaves just the time to validate and test; a trial that has
    not validated yet gives up once the deadline has passed (``DeadlinePassed``), so the study ends on time.
    """

    def __init__(self, deadline: float, finish_s: float = 0.0) -> None:
        self.deadline, self.finish_s = deadline, finish_s
        self._round_start = self._val_start = 0.0
        self._val_s = self._test_s = 0.0  # the last validation's time, and testing's estimated from it
        self.stopped_early = False

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._round_start = time.time()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_start = time.time()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_s = time.time() - self._val_start
            n_val = max(1, len(trainer.datamodule.encoded("val"))) if trainer.datamodule else 1
            n_test = len(trainer.datamodule.encoded("test")) if trainer.datamodule else n_val
            self._test_s = self._val_s * n_test / n_val

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        now = time.time()
        validated = bool(self._val_s)
        if not validated:  # not validated yet: no checkpoint to test
            if _any_rank(trainer, now > self.deadline):
                raise DeadlinePassed(f"the deadline passed at step {trainer.global_step}, before a validation")
        elif _any_rank(trainer, now + self._val_s + self._test_s + self.finish_s > self.deadline):
            if not trainer.should_stop:
                trainer.should_stop = True  # the epoch ends after this batch, and Lightning validates it
                self.stopped_early = True

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.time()
        round_s = now - self._round_start
        if _any_rank(trainer, now + round_s + self._test_s + self.finish_s > self.deadline) and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped_early = trainer.current_epoch + 1 < trainer.max_epochs


def _any_rank(trainer: L.Trainer, decision: bool) -> bool:
    """``decision`` on any rank of a DDP run, so that every rank stops at the same batch (clocks and speeds differ;
    a rank that stopped alone would leave the others waiting in their next collective). One process: itself."""
    return trainer.strategy.reduce_boolean_decision(decision, all=False)


class UntilDeadline(SearchAlgorithm):
    """A search algorithm that creates trials while one could still report before the study's deadline.

    Wraps the configured one (Optuna, random, BOHB, ...) and delegates everything else to it. The deadline
    is read from the study's ``deadline.json``, so a resumed study follows its new deadline.
    """

    def __init__(self, inner: SearchAlgorithm, run_dir: str) -> None:
        self.inner, self.run_dir = inner, run_dir
        self._finished = False

    def next_trial(self) -> Any:
        if self.is_finished():
            return None
        if too_late_to_start(read_deadline(Path(self.run_dir))):
            self.set_finished()
            return None
        return self.inner.next_trial()

    def is_finished(self) -> bool:
        return self._finished or self.inner.is_finished()

    def set_finished(self) -> None:  # not the inner one's: its saved state stays resumable
        self._finished = True

    @property
    def metric(self) -> Any:
        return self.inner.metric

    @property
    def searcher(self) -> Any:  # HyperBandForBOHB pauses and resumes trials through it
        return self.inner.searcher

    @property
    def total_samples(self) -> int:
        return self.inner.total_samples

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def add_configurations(self, experiments: Any) -> None:
        self.inner.add_configurations(experiments)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def has_checkpoint(self, dirpath: str) -> bool:
        return self.inner.has_checkpoint(dirpath)

    def save_to_dir(self, dirpath: str, **kwargs: Any) -> None:
        self.inner.save_to_dir(dirpath, **kwargs)

    def restore_from_dir(self, dirpath: str) -> None:
        self.inner.restore_from_dir(dirpath)
        self._finished = False  # a resumed study may create trials again, within its new deadline
