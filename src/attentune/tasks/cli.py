"""The one place that turns a user error into ``error: <message>`` and exit code 2."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from attentune.errors import AttentuneError
from attentune.quiet import quiet_libraries

CONF = Path(__file__).resolve().parents[3] / "conf"
# `${options:model}` in a command's --help (conf/train.yaml): the options of a config group, read from conf/.
OmegaConf.register_new_resolver(
    "options", lambda group: ", ".join(sorted(p.stem for p in (CONF / group).glob("*.yaml"))), replace=True
)


def run_task(fn: Callable[..., Any] | str, *args: Any, validate: bool = False) -> Any:
    """Call ``fn`` (or ``"module:function"``, imported only now); user errors print one line and exit 2, bugs keep
    their traceback. Library noise is off. ``validate``: check the config (``args[0]``) first, before Lightning,
    Ray or transformers are imported, so that a mistake is answered in seconds."""
    quiet_libraries()
    try:
        if validate:
            from attentune.tasks.runconfig import validate_config

            validate_config(args[0])
        if isinstance(fn, str):
            module, _, name = fn.partition(":")
            fn = getattr(importlib.import_module(module), name)
        return fn(*args)
    except AttentuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OmegaConfBaseException as exc:  # e.g. a missing mandatory value (`???`) or a bad interpolation
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(2) from None
