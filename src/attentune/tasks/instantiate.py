"""``hydra.utils.instantiate`` that lets the project's own errors through unwrapped."""

from __future__ import annotations

from typing import Any

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig

from attentune.errors import AttentuneError, ConfigError


def instantiate(cfg: DictConfig, where: str, **kwargs: Any) -> Any:
    """Instantiate ``cfg``; a ConfigError/DataError raised inside keeps its one-line message.

    ``where`` names the config node (``model``, ``data``...) for errors Hydra itself reports, such as a
    keyword the target does not accept.
    """
    try:
        return hydra.utils.instantiate(cfg, **kwargs)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, AttentuneError):
            raise cause from None
        if isinstance(cause, TypeError) and "argument" in str(cause):
            raise ConfigError(f"{where}: {cause}") from None
        raise
