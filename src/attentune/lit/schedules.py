"""Learning-rate schedules: linear warm-up, then cosine or linear decay (or constant)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from attentune.errors import ConfigError

SCHEDULES = ("cosine", "linear", "constant")


class WarmupDecay:
    """Multiplier of the base learning rate at optimizer step ``step`` (picklable, unlike a lambda)."""

    def __init__(self, name: str, warmup_steps: int, total_steps: int) -> None:
        if name not in SCHEDULES:
            raise ConfigError(f"lr_schedule.name: unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
        self.name, self.warmup_steps, self.total_steps = name, warmup_steps, max(total_steps, 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.name == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        if self.name == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_decay(optimizer: Optimizer, name: str, warmup_ratio: float, total_steps: int) -> LambdaLR:
    if not 0.0 <= warmup_ratio < 1.0:
        raise ConfigError(f"lr_schedule.warmup_ratio must be in [0, 1), got {warmup_ratio}")
    return LambdaLR(optimizer, WarmupDecay(name, int(warmup_ratio * total_steps), total_steps))
