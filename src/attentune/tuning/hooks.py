"""The Hydra callbacks of ``tune.py -m``, light to import: Hydra builds them for every tune.py command, so a single
study, ``--help`` or a config mistake never loads what they run (the planner, selection)."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class BudgetPlanCallback(Callback):
    """Before a sweep's first study: probe, print and write the budget plan (``planner.sweep.plan_before_sweep``)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from attentune.tuning.planner.sweep import plan_before_sweep

        plan_before_sweep(config)


class SelectionCallback(Callback):
    """After every study of a sweep: leaderboard, seed re-runs, best/ (``selection.select_after_sweep``)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from attentune.tuning.selection import select_after_sweep

        select_after_sweep(config)
