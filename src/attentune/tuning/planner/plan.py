"""A sweep's plan: every study's probed trial cost, its chance to win, and its share of the budget.

Allocation, in order:
1. Floors, most likely winner first. Each study in the order of its chance to win (``priors``) claims one
   full trial (plus its study's start-up). A study whose floor no longer fits is skipped with its reason;
   a cheaper, less likely one may still fit after it.
2. Selection's seed re-runs get their share only from what the floors leave: they never push out a family's
   only trial.
3. The rest is shared in proportion to chance to win x trial cost (so each study's number of extra trials
   follows its chance to win), each up to what its ``num_samples`` can use.
A study that starts re-divides what is really left among itself and the studies still waiting, with their
chances updated by what the finished studies scored against the reference; a family skipped for time is
reconsidered then. The plan is ``budget_plan.json`` in the sweep dir: planned and actual seconds per study.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from attentune.tasks.train import write_json
from attentune.tuning.planner.cost import RAY_START_S

PLAN_FILE = "budget_plan.json"
NO_TIME = "skipped: one trial needs"
MIN_WEIGHT = 0.02  # every runnable study gets a little of the extra time, however unlikely it is to win


@dataclass
class StudyBudget:
    """One study's entry in a sweep's plan."""

    key: str  # the job's overrides, sorted: how a study finds its entry
    name: str  # for messages and the leaderboard
    family: str = ""
    win_chance: float = 1.0  # of being the sweep's best candidate (priors, then what finished studies scored)
    gain: float = 0.0  # expected test points over the reference (priors)
    spread: float = 0.0
    trial_s: float = 0.0  # one full default trial
    first_round_s: float = 0.0
    max_useful_s: float = math.inf  # all num_samples trials, max_concurrent at a time
    fixed_s: float | None = None  # an explicit time_budget_s: the study gets exactly that
    skip: str | None = None  # why it does not run
    allotted_s: float = 0.0
    started: float | None = None
    finished: float | None = None
    observed: float | None = None  # its best trial's validation score, once finished
    cost: dict = field(default_factory=dict)

    def floor(self) -> float:
        return self.fixed_s if self.fixed_s is not None else RAY_START_S + self.trial_s

    def cap(self) -> float:
        return self.fixed_s if self.fixed_s is not None else max(self.floor(), self.max_useful_s)

    @property
    def actual_s(self) -> float | None:
        return None if self.started is None or self.finished is None else round(self.finished - self.started, 1)


def share(studies: list[StudyBudget], available: float) -> dict[str, float]:
    """Split ``available`` seconds: each study at least its floor (one trial) and at most its cap, the rest in
    proportion to chance to win x trial cost (water-filling). The caller checks that the floors fit."""
    out = {s.key: s.floor() for s in studies}
    left = available - sum(out.values())
    open_ = [s for s in studies if out[s.key] < s.cap()]
    while left > 1e-6 and open_:
        weight = {s.key: max(s.win_chance, MIN_WEIGHT) * max(s.trial_s, 1.0) for s in open_}
        total = sum(weight.values())
        step = {s.key: left * weight[s.key] / total for s in open_}
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
    selection_s: float  # what selection's seed re-runs would like; they get it only after every floor
    studies: list[StudyBudget]
    probe_s: float = 0.0
    reserve_s: float = 0.0  # what the last allotment left selection
    reference: dict = field(default_factory=dict)  # the reference row's validation score (for the updates)
    auto: bool = False  # budget=auto: budget_s was chosen for this machine from the probed costs

    @property
    def studies_deadline(self) -> float:
        return self.start + self.budget_s - self.reserve_s

    @property
    def deadline(self) -> float:
        return self.start + self.budget_s

    def entry(self, key: str) -> StudyBudget | None:
        return next((s for s in self.studies if s.key == key), None)

    def by_chance(self, studies: list[StudyBudget]) -> list[StudyBudget]:
        """Most likely winner first; the cheaper of equal chances first."""
        return sorted(studies, key=lambda s: (-s.win_chance, s.floor()))

    def allot(self, now: float | None = None, first: StudyBudget | None = None) -> None:
        """Skip what cannot fit, keep selection's share out of what the floors leave, and share the rest among
        the studies not started (``first``: the one starting now, which claims before the others)."""
        now = time.time() if now is None else now
        waiting = [s for s in self.studies if s.started is None and (s.skip is None or s.skip.startswith(NO_TIME))]
        for s in waiting:  # skipped for time earlier: time an earlier study did not use may fit it now
            s.skip = None
        ordered = self.by_chance([s for s in waiting if s is not first])
        if first is not None:
            ordered = [first, *ordered]
        available = self.deadline - now
        claimed = 0.0
        for s in ordered:
            if claimed + s.floor() > available:
                left = max(0.0, available - claimed)
                s.skip = f"{NO_TIME} ≈ {s.floor():.0f} s, {left:.0f} s left; chance to win ≈ {s.win_chance:.0%}"
            else:
                claimed += s.floor()
        runnable = [s for s in ordered if s.skip is None]
        self.reserve_s = max(0.0, min(self.selection_s, available - claimed))
        for key, seconds in share(runnable, available - self.reserve_s).items():
            self.entry(key).allotted_s = seconds

    def fits_all_s(self, selection_share: float) -> tuple[float, float]:
        """The budget that fits one trial of every study (probe included), and that plus selection's share."""
        floors = self.probe_s + sum(s.floor() for s in self.studies if not _unfit(s))
        return floors, floors / max(1e-6, 1.0 - selection_share)

    def observations(self, data: str, task: str) -> list[dict]:
        """What this sweep teaches the priors: each finished family's best validation score minus the
        reference's, in points (validation, not test: nothing the search decides may look at test)."""
        ref = self.reference.get("val")
        if ref is None:
            return []
        return [
            {
                "data": data,
                "task": task,
                "n_train": int(self.reference.get("n_train", 0)),
                "words": float(self.reference.get("words", 0.0)),
                "family": s.family,
                "gain": round(100 * (s.observed - ref), 2),
                "sweep": self.start,
            }
            for s in self.studies
            if s.observed is not None and s.family
        ]

    def save(self, path: Path) -> None:
        data = asdict(self)
        for s, entry in zip(self.studies, data["studies"], strict=True):
            entry["actual_s"] = s.actual_s
        write_json(path, data)

    @classmethod
    def load(cls, path: Path) -> SweepPlan:
        data = json.loads(path.read_text())
        studies = []
        for s in data.pop("studies"):
            s.pop("actual_s", None)
            studies.append(StudyBudget(**{**s, "max_useful_s": float(s["max_useful_s"])}))
        return cls(**data, studies=studies)


def _unfit(s: StudyBudget) -> bool:
    """Skipped for a reason no budget changes (too little data), not for time."""
    return s.skip is not None and not s.skip.startswith(NO_TIME)
