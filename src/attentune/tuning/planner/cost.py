"""What a trial costs on this machine: budgets in seconds, a default trial's time from its probed unit costs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from omegaconf import DictConfig

from attentune.errors import ConfigError
from attentune.tuning.planner.probe import LATENCY_EXAMPLES, RunCost

WORKER_START_S = 8.0  # a fresh Ray worker importing torch and Lightning (workers are reused after that)
RAY_START_S = 10.0  # a study starting its private Ray instance and Tuner
_UNITS = {"s": 1, "m": 60, "h": 3600}
AUTO = "auto"  # budget=auto: what this machine needs (auto_budget), decided after probing
AUTO_MIN_S = 40 * 60.0  # ...never less than the 40 minutes that fit every family on our fast CPUs
AUTO_SEARCH = 1.5  # ...and half as much again as one trial of every family (with selection's share) for search


def parse_budget(value: object, key: str = "budget") -> float | None:
    """``1800``, ``"90s"``, ``"30m"``, ``"1.5h"``, ``"1h30m"`` -> seconds; null -> None. ``auto`` is None here: the
    planner decides it from the probed costs (``auto_budget``) before anything reads a deadline from it."""
    if value is None or (key == "budget" and str(value).strip().lower() == AUTO):
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
        fraction = round_fraction(trial)  # of the training set per round
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


def round_fraction(trial: DictConfig) -> float:
    """``trainer.limit_train_batches``: a fraction of the training set, a number of batches (> 1), or null (all)."""
    limit = trial.trainer.get("limit_train_batches")
    return 1.0 if limit is None else float(limit)


def too_small(cost: RunCost, trial: DictConfig) -> str | None:
    """Why ``trial`` cannot train on this data at all (fewer examples than a batch, or than a round), else None."""
    if cost.n_train < cost.batch_size:
        return f"the training set has {cost.n_train} examples, fewer than one batch (batch_size={cost.batch_size})"
    fraction = round_fraction(trial)
    if fraction <= 1 and int(fraction * math.ceil(cost.n_train / cost.batch_size)) < 1:
        return f"one round ({fraction:.2g} of {cost.n_train} examples) is less than a batch of {cost.batch_size}"
    return None


def max_useful_seconds(trial_s: float, num_samples: int, max_concurrent: int) -> float:
    """What ``num_samples`` full trials take, ``max_concurrent`` at a time; -1 (until the budget) has no end."""
    if num_samples < 0:
        return math.inf
    # twice the estimate: a cap only hands time on, and a study that ends early passes its rest on anyway
    return 2 * (RAY_START_S + math.ceil(num_samples / max(1, max_concurrent)) * trial_s)


def is_auto(value: object) -> bool:
    return str(value).strip().lower() == AUTO


def auto_budget(first_trials_s: float, selection_share: float) -> float:
    """``budget=auto``: one trial of every study (``first_trials_s``, probing included) with selection's share,
    and half as much again for the search, but at least ``AUTO_MIN_S``. On a CPU 2-4x slower than ours, that
    is what every family's first trial and some search need; on ours, the 40 minutes measured to be enough."""
    return max(AUTO_MIN_S, AUTO_SEARCH * first_trials_s / max(1e-6, 1.0 - selection_share))


def contention(cores: int, ray_cpus: float, max_concurrent: int, trial_cpus: float) -> float:
    """How much slower a trial runs beside the study's other trials than the probe, which ran alone with
    ``trial_cpus`` threads: the threads of the trials running at once over the cores there are (at least 1).

    Two 1-CPU trials on a 2-core machine: 1. The same on one core (``taskset -c 0``, a Ray instance told it has
    2 CPUs): 2. One 2-thread MiniLM trial on one core: 1 (the probe ran its 2 threads on that core too).
    """
    at_once = max(1, min(max_concurrent, int(ray_cpus // max(trial_cpus, 1))))
    threads = at_once * max(trial_cpus, 1)
    return max(1.0, threads / max(cores, trial_cpus, 1))
