"""The one place that turns a user error into ``error: <message>`` and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from omegaconf.errors import OmegaConfBaseException

from attentune.errors import AttentuneError
from attentune.quiet import quiet_libraries


def run_task(fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn``; user errors print one line and exit 2, bugs keep their traceback. Library noise is off."""
    quiet_libraries()
    try:
        return fn(*args)
    except AttentuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OmegaConfBaseException as exc:  # e.g. a missing mandatory value (`???`) or a bad interpolation
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None
