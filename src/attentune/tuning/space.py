"""Search spaces keyed by dotted config paths, and how a trial's values land in the training config.

``conf/search/<family>.yaml``::

    space:                                # dotted path -> one distribution
      heads: {choice: [2, 4, 8]}
      optimizer.lr: {loguniform: [1.0e-4, 3.0e-3]}
      layers: {randint: [1, 5]}           # low inclusive, high exclusive
      max_length: {grid: [64, 128]}
    derived:                              # set on every trial; may interpolate sampled values, so
      d_model: ${mul:${heads},${head_dim}}  # constraints hold by construction

A trial is the composed training config with those keys changed (``OmegaConf.update``).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from ray import tune

from attentune.errors import ConfigError

DISTRIBUTIONS = {
    "choice": lambda v: tune.choice(list(v)),
    "grid": lambda v: tune.grid_search(list(v)),
    "uniform": lambda v: tune.uniform(*v),
    "loguniform": lambda v: tune.loguniform(*v),
    "randint": lambda v: tune.randint(*v),
    "quniform": lambda v: tune.quniform(*v),
}


def distribution(path: str, spec: Any) -> Any:
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"search.space.{path}: expected one of {{{', '.join(DISTRIBUTIONS)}}}: <values>, got {spec}")
    ((kind, values),) = spec.items()
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"search.space.{path}: unknown distribution {kind!r}; use one of {', '.join(DISTRIBUTIONS)}")
    return DISTRIBUTIONS[kind](values)


def distributions(node: DictConfig | dict | None) -> dict[str, Any]:
    """``{dotted path: {kind: values}}`` -> ``{dotted path: Ray Tune domain}`` (search spaces, PBT mutations)."""
    spec = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node or {}
    return {path: distribution(path, values) for path, values in spec.items()}


def param_space(search: DictConfig) -> dict[str, Any]:
    """Ray Tune param_space from a search config: a flat dict keyed by dotted config paths."""
    return distributions(search.get("space"))


def apply_params(cfg: DictConfig, params: dict[str, Any], derived: dict[str, str] | None = None) -> DictConfig:
    """The training config with each dotted key in ``params`` (then each derived key) set."""
    trial = cfg.copy()
    for path, value in {**params, **(derived or {})}.items():
        if hasattr(value, "item"):  # numpy scalars (BOHB's ConfigSpace samples them) as Python numbers
            value = value.item()
        OmegaConf.update(trial, path, value, force_add=True)
    return trial


def derived_values(search: DictConfig) -> dict[str, str]:
    """The ``derived`` entries, unresolved: they interpolate the trial's own sampled values."""
    node = search.get("derived")
    return dict(OmegaConf.to_container(node, resolve=False)) if node else {}
