"""Two backends' predictions for the same records, compared field by field."""

from __future__ import annotations

from typing import Any


def compare(expected: list[dict[str, Any]], actual: list[dict[str, Any]], tolerance: float) -> dict[str, Any]:
    """Floats (probabilities, span scores) within ``tolerance`` (relative past 1), everything else (the label, the
    answer, its start) equal. Returns ``examples``, ``max_diff``, ``mismatches`` (records whose label or answer
    differ), ``first_mismatch`` (its index or None) and ``ok``."""
    worst, mismatches, first = 0.0, 0, None
    for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
        same = True
        for key, x in a.items():
            y = b.get(key)
            if isinstance(x, float) and isinstance(y, float):
                worst = max(worst, abs(x - y) / max(1.0, abs(x)))
            elif x != y:
                same = False
        if not same:
            mismatches += 1
            first = i if first is None else first
    return {
        "examples": len(expected),
        "max_diff": worst,
        "mismatches": mismatches,
        "first_mismatch": first,
        "ok": mismatches == 0 and worst <= tolerance,
    }


def describe(result: dict[str, Any]) -> str:
    agree = result["examples"] - result["mismatches"]
    return (
        f"{agree}/{result['examples']} predictions equal, largest probability/score difference {result['max_diff']:.2e}"
    )
