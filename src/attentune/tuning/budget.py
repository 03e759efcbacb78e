"""One time budget for a whole sweep, shared among its studies by what their trials cost here.

``budget=30m`` (tune.yaml) covers a ``-m`` sweep: probing, every study and selection's seed re-runs. Before
any study starts, each family's default trial is probed on the user's data (``attentune.tasks.probe``) and
its cost on this machine estimated; the studies then share the sweep's time in proportion to
``search.budget_weight`` x that cost (so each gets about the same weighted number of trials), each at least
one full trial and at most what its ``num_samples`` trials can use. A study that starts re-divides what is
really left among itself and the studies after it, so time an earlier study did not use (or overran) moves
on. A family whose one trial does not fit is skipped with the reason, before its time is spent.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from attentune.errors import ConfigError
from attentune.tasks.probe import LATENCY_EXAMPLES, RunCost
from attentune.tasks.train import write_json

PLAN_FILE = "budget_plan.json"
NO_TIME = "skipped: one trial needs"
WORKER_START_S = 8.0  # a fresh Ray worker importing torch and Lightning (workers are reused after that)
RAY_START_S = 10.0  # a study starting its private Ray instance and Tuner
_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_budget(value: object, key: str = "budget") -> float | None:
    """``1800``, ``"90s"``, ``"30m"``, ``"1.5h"``, ``"1h30m"`` -> seconds; null -> None."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smh])", text)
        if not parts or re.sub(r"\d+(?:\.\d+)?\s*[smh]", "", text).strip():
            raise ConfigError(f"{key}={value!r}: expected seconds or a duration such as 90s, 30m, 1.5h, 1h30m")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise ConfigError(f"{key}={value!r}: must be a positive duration")
    return seconds


@dataclass
class TrialCost:
    """Seconds one trial of a family's default configuration needs, from its probed unit costs."""

    full_s: float  # every round to the end, then test and latency
    first_round_s: float  # start-up and one round: the least a trial needs to report anything
    finish_s: float  # after training: testing the best checkpoint and measuring latency
    rounds: int

    @classmethod
    def of(cls, cost: RunCost, trial: DictConfig, safety: float) -> TrialCost:
        rounds = int(trial.trainer.max_epochs)
        fraction = float(trial.trainer.limit_train_batches)  # of the training set per round
        if fraction > 1:  # a number of batches
            fraction = min(1.0, fraction * cost.batch_size / max(cost.n_train, 1))
        round_s = (
            fraction * cost.n_train * cost.train_s_per_example
            + cost.n_val * cost.eval_s_per_example
            + cost.checkpoint_s  # the round's resume checkpoint (and often a new best one)
        ) * safety
        finish_s = ((cost.n_test + LATENCY_EXAMPLES) * cost.eval_s_per_example + cost.checkpoint_s) * safety
        start_s = WORKER_START_S + cost.setup_s * safety
        return cls(
            full_s=start_s + rounds * round_s + finish_s,
            first_round_s=start_s + round_s,
            finish_s=finish_s,
            rounds=rounds,
        )


def too_small(cost: RunCost, trial: DictConfig) -> str | None:
    """Why ``trial`` cannot train on this data at all (fewer examples than a batch, or than a round), else None."""
    if cost.n_train < cost.batch_size:
        return f"the training set has {cost.n_train} examples, fewer than one batch (batch_size={cost.batch_size})"
    fraction = float(trial.trainer.limit_train_batches)
    if fraction <= 1 and int(fraction * math.ceil(cost.n_train / cost.batch_size)) < 1:
        return f"one round ({fraction:.2g} of {cost.n_train} examples) is less than a batch of {cost.batch_size}"
    return None


@dataclass
class StudyBudget:
    """One study's entry in a sweep's plan."""

    key: str  # the job's overrides, sorted: how a study finds its entry
    name: str  # for messages and the leaderboard
    weight: float = 1.0
    trial_s: float = 0.0  # one full default trial
    first_round_s: float = 0.0
    max_useful_s: float = math.inf  # all num_samples trials, max_concurrent at a time
    fixed_s: float | None = None  # an explicit time_budget_s: the study gets exactly that
    skip: str | None = None  # why it does not run
    allotted_s: float = 0.0
    started: float | None = None
    finished: float | None = None
    cost: dict = field(default_factory=dict)

    def floor(self) -> float:
        return self.fixed_s if self.fixed_s is not None else self.trial_s

    def cap(self) -> float:
        return self.fixed_s if self.fixed_s is not None else max(self.trial_s, self.max_useful_s)


def share(studies: list[StudyBudget], available: float) -> dict[str, float]:
    """Split ``available`` seconds: each study at least its floor (one trial) and at most its cap, the rest in
    proportion to weight x trial cost (water-filling). The caller checks that the floors fit."""
    out = {s.key: s.floor() for s in studies}
    left = available - sum(out.values())
    open_ = [s for s in studies if out[s.key] < s.cap()]
    while left > 1e-6 and open_:
        total = sum(s.weight * max(s.trial_s, 1.0) for s in open_)
        step = {s.key: left * s.weight * max(s.trial_s, 1.0) / total for s in open_}
        left = 0.0
        for s in list(open_):
            room = s.cap() - out[s.key]
            if step[s.key] >= room:
                out[s.key] += room
                left += step[s.key] - room
                open_.remove(s)
            else:
                out[s.key] += step[s.key]
    return out


@dataclass
class SweepPlan:
    """The whole sweep's budget: when it started, its deadline, the selection's reserve and each study."""

    budget_s: float
    start: float
    selection_s: float
    studies: list[StudyBudget]
    probe_s: float = 0.0

    @property
    def studies_deadline(self) -> float:
        return self.start + self.budget_s - self.selection_s

    @property
    def deadline(self) -> float:
        return self.start + self.budget_s

    def entry(self, key: str) -> StudyBudget | None:
        return next((s for s in self.studies if s.key == key), None)

    def allot(self, now: float | None = None, first: StudyBudget | None = None) -> None:
        """Skip what cannot fit, then share the time left to the studies' deadline among those not started.

        Studies keep the sweep's order: when the floors do not all fit, the later ones are skipped first (list
        the families that matter most first); one skipped for time is reconsidered when a later study starts.
        """
        now = time.time() if now is None else now
        waiting = [s for s in self.studies if s.started is None and (s.skip is None or s.skip.startswith(NO_TIME))]
        for s in waiting:  # skipped for time earlier: time an earlier study did not use may fit it now
            s.skip = None
        if first is not None:  # the study starting now is the first to claim its share
            waiting = [first] + [s for s in waiting if s is not first]
        available = self.studies_deadline - now
        claimed = 0.0
        for s in waiting:
            if claimed + s.floor() > available:
                left = max(0.0, available - claimed)
                s.skip = f"{NO_TIME} ≈ {s.floor():.0f} s, {left:.0f} s left"
            else:
                claimed += s.floor()
        runnable = [s for s in waiting if s.skip is None]
        for key, seconds in share(runnable, available).items():
            self.entry(key).allotted_s = seconds

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> SweepPlan:
        data = json.loads(path.read_text())
        studies = [StudyBudget(**{**s, "max_useful_s": float(s["max_useful_s"])}) for s in data.pop("studies")]
        return cls(**data, studies=studies)


def max_useful_seconds(trial_s: float, num_samples: int, max_concurrent: int) -> float:
    """What ``num_samples`` full trials take, ``max_concurrent`` at a time; -1 (until the budget) has no end."""
    if num_samples < 0:
        return math.inf
    # twice the estimate: a cap only hands time on, and a study that ends early passes its rest on anyway
    return 2 * (RAY_START_S + math.ceil(num_samples / max(1, max_concurrent)) * trial_s)
