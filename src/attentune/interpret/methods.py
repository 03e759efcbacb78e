"""The explanation methods by name (no torch here: the command checks its config before importing anything heavy)."""

from __future__ import annotations

from collections.abc import Sequence

from attentune.errors import ConfigError

METHODS = ("integrated_gradients", "gradient_x_input", "leave_one_out", "attention", "rollout", "random")
ATTENTION_METHODS = ("attention", "rollout")  # need a model with attention


def check_methods(methods: Sequence[str]) -> list[str]:
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"methods: unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    return list(methods)
