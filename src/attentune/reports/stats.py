"""Mean and 95% confidence interval over seeds (Student's t)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% t-interval); the half-width is nan for fewer than two values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
