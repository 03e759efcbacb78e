import pytest
import torch

from attentune.errors import ConfigError
from attentune.lit.schedules import WarmupDecay, warmup_decay


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_warmup_then_decay_to_zero(name):
    f = WarmupDecay(name, warmup_steps=10, total_steps=110)
    warm = [f(s) for s in range(10)]
    assert all(a < b for a, b in zip(warm, warm[1:], strict=False)) and warm[-1] < 1.0
    assert f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5)  # both schedules pass through 0.5 halfway through the decay
    assert f(110) == pytest.approx(0.0, abs=1e-9)
    decay = [f(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:], strict=False))


def test_constant_after_warmup_and_lambda_lr_drives_the_optimizer():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.5)
    sched = warmup_decay(opt, "constant", warmup_ratio=0.5, total_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5 / 3, 1.0 / 3, 0.5, 0.5])


def test_bad_schedule_values():
    with pytest.raises(ConfigError, match="unknown schedule"):
        WarmupDecay("step", 0, 10)
    with pytest.raises(ConfigError, match="warmup_ratio"):
        warmup_decay(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), "cosine", 1.0, 10)
