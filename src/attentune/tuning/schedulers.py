"""Schedulers whose Hydra config needs translating: PBT's mutations use the search-space syntax."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from ray.tune.schedulers import PopulationBasedTraining

from attentune.tuning.space import distributions


def population_based_training(hyperparam_mutations: DictConfig | dict, **kwargs: Any) -> PopulationBasedTraining:
    """Ray's PBT with ``hyperparam_mutations`` written like a search space (dotted path -> distribution).

    An exploited trial continues from a better trial's checkpoint with mutated values; the training
    module applies the configured optimiser settings over the restored ones (see ``on_train_start``), so
    mutate optimiser settings or dropout, not shapes: a different architecture cannot load the weights.
    """
    return PopulationBasedTraining(hyperparam_mutations=distributions(hyperparam_mutations), **kwargs)
