"""What a training run of a config costs on this machine, measured by a short probe (a few steps, no Trainer).

The tuner's budget plan turns these unit costs into the seconds a trial needs (``attentune.tuning.budget``),
so a sweep's budget follows the user's data size and this machine's speed rather than constants calibrated
on one dataset. The probe builds the run as ``train()`` does (``Task.setup``) and times the task module's own
``training_step`` and ``validation_step`` on batches of its data module, so every task is timed the same way.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import random
import time
import warnings
from dataclasses import asdict, dataclass

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from attentune.tasks.build import resolve_precision
from attentune.tasks.prepare import RunData
from attentune.tasks.task import task_of

LATENCY_EXAMPLES = 6 * (1 + 64)  # measure_latency: a warm-up and five timed calls at batch 1 and at 64


@dataclass
class RunCost:
    """Measured unit costs of one run of a config (seconds) and the sizes they multiply.

    An item is what a batch holds: an example for classification, a window of a question and its context for
    QA (a question with a long context has several); ``n_examples`` counts the training set as
    ``train_examples`` does.
    """

    setup_s: float  # data, tokenizer training, encoding every split, building the model
    train_s_per_example: float  # forward + backward + optimiser step, per training item
    eval_s_per_example: float  # forward only, per validation/test item
    checkpoint_s: float  # writing one full training-state checkpoint (weights + optimiser)
    n_train: int  # training items
    n_val: int
    n_test: int
    batch_size: int
    n_examples: int  # training examples

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
    """Seconds per item of ``fn`` over ``batches`` after one warm-up call; stops once ``min_seconds`` are spent."""
    fn(batches[0])
    start, items = time.perf_counter(), 0
    for batch in batches[1:]:
        fn(batch)
        items += batch["input_ids"].shape[0]
        if time.perf_counter() - start >= min_seconds:
            break
    return (time.perf_counter() - start) / max(items, 1)


def _sample(loader: DataLoader, size: int, count: int, rng: random.Random) -> list:
    """``count`` batches of ``size`` random items of ``loader``'s split, collated as ``loader`` collates them
    (random, not the length-sorted order of evaluation loaders, so the estimate errs on the slow side)."""
    items = loader.dataset
    size = min(size, len(items))
    return [loader.collate_fn([items[i] for i in rng.sample(range(len(items)), size)]) for _ in range(count)]


def module_steps(cfg: DictConfig, module) -> tuple:
    """``(train_step, eval_step, optimizer)``: one optimiser step and one evaluation step of the task module on a
    batch, in the run's precision (bf16 autocast where the run would use it), as its Trainer runs them."""
    bf16 = resolve_precision(cfg.trainer.precision, "cpu").startswith("bf16")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
    optimizer = module.optimizer_factory([p for p in module.parameters() if p.requires_grad])

    def train_step(batch: dict) -> None:
        with autocast:
            loss = module.training_step(batch, 0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    @torch.inference_mode()
    def eval_step(batch: dict) -> None:
        with autocast:
            module.validation_step(batch, 0)

    return train_step, eval_step, optimizer


def probe_run_cost(
    cfg: DictConfig, threads: int = 1, steps: int = 8, min_seconds: float = 2.0, data: RunData | None = None
) -> RunCost:
    """Measure ``cfg``'s run on a random sample of its own data with ``threads`` torch threads (a trial's CPUs).

    Training steps use the run's batch size, precision (bf16 autocast where the run would use it), optimiser and
    training batches as its loader draws them; evaluation the shortest, the middle and the longest batch of the
    length-sorted validation loader.
    ``data``: as for ``train()``.
    """
    rng = random.Random(0)
    with _threads(threads), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.log.*")  # the module logs; no Trainer collects it here
        start = time.perf_counter()
        data = data or RunData()
        dataset = data.dataset(cfg)
        setup = task_of(cfg).setup(cfg, data.prepare(cfg, dataset), {"config": {}})
        datamodule, module = setup.datamodule, setup.module
        datamodule.setup("fit")
        loaders = {
            "train": datamodule.train_dataloader(),
            "val": datamodule.val_dataloader(),
            "test": datamodule.test_dataloader(),
        }
        setup_s = time.perf_counter() - start
        sizes = {split: len(loader.dataset) for split, loader in loaders.items()}

        train_step, eval_step, optimizer = module_steps(cfg, module)
        full = (b for b in loaders["train"] if b["input_ids"].shape[0] == cfg.batch_size)  # a chunk's tail is short
        train_batches = list(itertools.islice(full, steps + 1))  # as training draws them (length-bucketed)
        if not train_batches:  # a training set smaller than a batch (the planner says so before training)
            train_batches = _sample(loaders["train"], cfg.batch_size, steps + 1, rng)
        module.train()
        train_s = _timed_steps(train_step, train_batches, min_seconds)

        ordered = list(loaders["val"])  # sorted by length, as evaluation runs: three batches spread across it
        eval_batches = [ordered[round(i * (len(ordered) - 1) / 2)] for i in range(3)]
        module.eval()
        eval_s = _timed_steps(eval_step, eval_batches, min_seconds / 2)

        start = time.perf_counter()
        torch.save({"model": module.state_dict(), "optimizer": optimizer.state_dict()}, io.BytesIO())
        checkpoint_s = time.perf_counter() - start
    return RunCost(
        setup_s,
        train_s,
        eval_s,
        checkpoint_s,
        n_train=sizes["train"],
        n_val=sizes["val"],
        n_test=sizes["test"],
        batch_size=cfg.batch_size,
        n_examples=len(setup.dataset.train),
    )
