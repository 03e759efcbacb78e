"""Search spaces keyed by dotted config paths, and how a trial's values land in the training config.

``conf/search/<family>.yaml``::

    space:                                # dotted path -> one distribution
      heads: {choice: [2, 4, 8]}
      optimizer.lr: {loguniform: [1.0e-4, 3.0e-3]}
      layers: {randint: [1, 5]}           # low inclusive, high exclusive
      max_length: {grid: [64, 128]}
    derived:                              # set on every trial; may interpolate sampled values, so
      d_model: ${mul:${heads},${head_dim}}  # constraints hold by construction
    default:                              # values of keys that only `derived` reads, for the default
      head_dim: 32                        # configuration (the study's first trial)

A trial is the composed training config with those keys changed (``OmegaConf.update``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from ray import tune

from attentune.errors import ConfigError
from attentune.tasks import runconfig  # noqa: F401 - registers the ${mul:...} and ${div:...} resolvers

log = logging.getLogger(__name__)

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


SEARCH_PARTS = ("space", "derived", "default")


def use_task_search(cfg: DictConfig) -> None:
    """Search the run's task: a family's search config holds its classification ``space``/``derived``/``default``
    and, for another task, a section of that task's name (``qa:``) whose entries replace them (in place, before
    anything reads them: ``num_samples`` and the like may be set there too). A family without a section for the
    task cannot be searched for it. Keys listed in ``search.fixed`` leave the space, whoever added them."""
    task = str((cfg.get("task") or {}).get("name", "classification"))
    if task != "classification":
        _replace_with_task_section(cfg, task)
    keep = OmegaConf.select(cfg, "feature_selection.keep_fraction")
    if isinstance(keep, ListConfig):  # feature_selection.keep_fraction=[0.5,0.75,1.0]: a search dimension
        values = sorted({float(v) for v in keep})
        with open_dict(cfg):
            cfg.search.space["feature_selection.keep_fraction"] = {"choice": values}
            cfg.feature_selection.keep_fraction = values[-1]  # the default trial keeps the most
    fixed = [path for path in cfg.search.get("fixed") or [] if path in (cfg.search.get("space") or {})]
    if fixed:  # an experiment's space (experiment=tiny) may add a key this family never searches
        log.info("search.space: not searching %s (fixed for this family: search.fixed)", ", ".join(fixed))
        with open_dict(cfg):
            for path in fixed:
                cfg.search.space.pop(path)


def _replace_with_task_section(cfg: DictConfig, task: str) -> None:
    section = cfg.search.get(task)
    if section is None:
        raise ConfigError(f"search: this family's search config has no `{task}:` section (its space for task={task})")
    replacement = OmegaConf.to_container(section, resolve=False)  # derived entries interpolate each trial's values
    with open_dict(cfg):
        for key in (*SEARCH_PARTS, task):
            cfg.search.pop(key, None)
        for key, value in replacement.items():
            cfg.search[key] = value


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


def default_point(search: DictConfig, base: DictConfig) -> dict[str, Any]:
    """The family's default configuration (what ``train.py model=<family>`` trains) as a point of its space.

    Each searched key takes its value in the training config ``base``; a key that only a ``derived`` entry
    reads (``head_dim``) takes it from ``search.default``, and the derived keys that interpolate must then
    come out as in ``base`` (``d_model = heads * head_dim``), so the point really is the default. A value outside a
    ``choice``/``grid`` is an error (searchers cannot enqueue it); outside a range, a warning.
    """
    spec = OmegaConf.to_container(search.get("space"), resolve=True) if search.get("space") else {}
    given = OmegaConf.to_container(search.get("default"), resolve=True) if search.get("default") else {}
    point = {}
    for path, dist in spec.items():
        value = given[path] if path in given else OmegaConf.select(base, path, default="<missing>")
        if value == "<missing>":
            raise ConfigError(f"search.default.{path}: needed, the training config has no {path} to start from")
        ((kind, values),) = dist.items()
        if kind in ("choice", "grid") and value not in values:
            raise ConfigError(
                f"search.space.{path}: the default configuration's value {value!r} is not among {values}; "
                "add it, or set evaluate_default=false"
            )
        if kind in ("uniform", "loguniform", "quniform", "randint") and not values[0] <= value <= values[1]:
            log.warning("search.space.%s: the default value %s lies outside %s; evaluated anyway", path, value, values)
        point[path] = value
    trial = apply_params(base, point, derived_values(search))
    for path, expr in derived_values(search).items():
        if "${" not in str(expr):  # a constant study setting (MiniLM's whole-epoch rounds), not a size
            continue
        mine, theirs = OmegaConf.select(trial, path), OmegaConf.select(base, path)
        if mine != theirs:
            raise ConfigError(f"search.default: gives {path}={mine}, but the default configuration has {path}={theirs}")
    return point


def same_point(params: dict[str, Any], point: dict[str, Any]) -> bool:
    """Whether a trial's sampled ``params`` are ``point`` (floats compared to rounding)."""
    if set(params) != set(point):
        return False
    for key, value in point.items():
        other = params[key]
        if isinstance(value, float) and isinstance(other, int | float) and not isinstance(other, bool):
            if not math.isclose(value, other, rel_tol=1e-9):
                return False
        elif other != value:
            return False
    return True
