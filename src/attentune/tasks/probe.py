"""What a training run of a config costs on this machine, measured by a short probe (a few steps, no Trainer).

The tuner's budget plan turns these unit costs into the seconds a trial needs (``attentune.tuning.budget``),
so a sweep's budget follows the user's data size and this machine's speed rather than constants calibrated
on one dataset.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from attentune.data.datamodule import TextDataModule
from attentune.tasks.build import make_model, resolve_precision
from attentune.tasks.instantiate import instantiate
from attentune.tasks.prepare import encoder_of, prepare_data
from attentune.tokenization import Collator

EVAL_BATCH = 256  # TextDataModule's evaluation batch size
LATENCY_EXAMPLES = 6 * (1 + 64)  # measure_latency: a warm-up and five timed calls at batch 1 and at 64


@dataclass
class RunCost:
    """Measured unit costs of one run of a config (seconds) and the sizes they multiply."""

    setup_s: float  # data, tokenizer training, encoding every split, building the model
    train_s_per_example: float  # forward + backward + optimiser step, per training example
    eval_s_per_example: float  # forward only, per validation/test example
    checkpoint_s: float  # writing one full training-state checkpoint (weights + optimiser)
    n_train: int
    n_val: int
    n_test: int
    batch_size: int

    def as_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed_steps(fn, batches: list, min_seconds: float) -> float:
    """Seconds per call of ``fn`` over ``batches`` after one warm-up call; stops once ``min_seconds`` are spent."""
    fn(batches[0])
    start, done = time.perf_counter(), 0
    for batch in batches[1:]:
        fn(batch)
        done += 1
        if time.perf_counter() - start >= min_seconds:
            break
    return (time.perf_counter() - start) / max(done, 1)


def probe_run_cost(cfg: DictConfig, threads: int = 1, steps: int = 8, min_seconds: float = 2.0) -> RunCost:
    """Measure ``cfg``'s run on a random sample of its own data with ``threads`` torch threads (a trial's CPUs).

    Training steps use the run's batch size, precision (bf16 autocast where the run would use it) and
    optimiser; evaluation uses full evaluation batches of random (not length-sorted) examples, so the
    estimate errs on the slow side.
    """
    rng = random.Random(0)
    with _threads(threads):
        start = time.perf_counter()
        data = prepare_data(cfg)
        datamodule = TextDataModule(data.dataset, encoder_of(data.tokenizer), Collator(pad_id=0), encoded=data.encoded)
        train, val = datamodule.encoded("train"), datamodule.encoded("val")
        n_test = len(datamodule.encoded("test"))
        tokenizer = data.tokenizer
        model = make_model(cfg.model, tokenizer.get_vocab_size(), data.dataset.num_classes, tokenizer.get_vocab())
        setup_s = time.perf_counter() - start

        bf16 = resolve_precision(cfg.trainer.precision, "cpu").startswith("bf16")
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
        optimizer = instantiate(cfg.optimizer, "optimizer")([p for p in model.parameters() if p.requires_grad])
        collate = Collator(pad_id=0)
        bs = min(cfg.batch_size, len(train))
        train_batches = [collate(rng.sample(train, bs)) for _ in range(steps + 1)]

        def train_step(batch: dict) -> None:
            with autocast:
                logits = model(batch["input_ids"], batch["attention_mask"]).float()
            F.cross_entropy(logits, batch["labels"]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        model.train()
        train_s = _timed_steps(train_step, train_batches, min_seconds) / bs

        eval_bs = min(EVAL_BATCH, len(val))
        eval_batches = [collate(rng.sample(val, eval_bs)) for _ in range(3)]

        @torch.inference_mode()
        def eval_step(batch: dict) -> None:
            with autocast:
                model(batch["input_ids"], batch["attention_mask"])

        model.eval()
        eval_s = _timed_steps(eval_step, eval_batches, min_seconds / 2) / eval_bs

        start = time.perf_counter()
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, io.BytesIO())
        checkpoint_s = time.perf_counter() - start
    return RunCost(setup_s, train_s, eval_s, checkpoint_s, len(train), len(val), n_test, cfg.batch_size)
