"""The search algorithm of a study: the configured searcher, its first points, concurrency and deadline."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
import ray
from omegaconf import DictConfig
from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter, SearchAlgorithm, Searcher, SearchGenerator

from attentune.tuning.deadline import UntilDeadline


def make_search_alg(
    node: DictConfig | None,
    points: list[dict],
    max_concurrent: int,
    run_dir: Path | None,
    limit_variants: bool = False,
) -> SearchAlgorithm:
    """The configured searcher, evaluating ``points`` first, at most ``max_concurrent`` trials at a time (model-based
    searchers; random and grid search too with ``limit_variants``), and (with a deadline in ``run_dir``) creating
    no trial that could not report before it."""
    kwargs: dict[str, Any] = {"points_to_evaluate": points, "_convert_": "all"} if points else {}
    # Random and grid search (BasicVariantGenerator) are otherwise not limited: as in Ray's own handling of
    # max_concurrent_trials, the trials' resources bound them (and HyperBand's paused trials must not block).
    # DDP trials reserve nothing in Tune (Ray Train reserves their workers): they are limited here.
    target = hydra.utils.get_class(node._target_) if node else BasicVariantGenerator
    if limit_variants and issubclass(target, BasicVariantGenerator):
        kwargs["max_concurrent"] = max_concurrent
    alg = hydra.utils.instantiate(node, **kwargs) if node else BasicVariantGenerator(**kwargs)
    if isinstance(alg, Searcher):
        alg = SearchGenerator(ConcurrencyLimiter(alg, max_concurrent=max_concurrent))
    return UntilDeadline(alg, str(run_dir)) if run_dir is not None else alg


@contextlib.contextmanager
def ray_settings_for_deadline(node: DictConfig | None, wrapped: bool) -> Iterator[None]:
    """Ray's settings that a study keeping a deadline (``UntilDeadline``) needs, while it runs:

    - Ray lets a random/grid search queue many pending trials (HyperBand fills its brackets from them) but
      recognises one only when it is not wrapped: set its own auto value explicitly.
    - A queued trial that reaches a worker too late returns without reporting (``too_late_to_start``). Ray means
      to allow that, but its check sees the flattened ``config/...`` keys as a result without the metric.
    """
    if not wrapped:
        yield
        return
    settings = {"TUNE_DISABLE_STRICT_METRIC_CHECKING": "1"}
    target = hydra.utils.get_class(node._target_) if node else BasicVariantGenerator
    if issubclass(target, BasicVariantGenerator):
        settings["TUNE_MAX_PENDING_TRIALS_PG"] = str(max(200, int(ray.cluster_resources().get("CPU", 1.0) * 1.1)))
    settings = {key: value for key, value in settings.items() if key not in os.environ}  # the user's own win
    os.environ.update(settings)
    try:
        yield
    finally:
        for key in settings:
            del os.environ[key]
