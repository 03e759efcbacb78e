"""The budget probe times any task's run through the task's own data module and LightningModule."""

from __future__ import annotations

import math

import pytest
import torch

from attentune.tasks.prepare import RunData
from attentune.tasks.task import task_of
from attentune.tuning.planner.probe import probe_run_cost
from conftest import compose_config

QA = ["task=qa", "data=squad_synth", "max_length=96", "task.stride=16", "task.max_question_tokens=32", "batch_size=8"]
QA_MODEL = ["model=mha", "d_model=16", "heads=2", "layers=1", "tokenizer.vocab_size=500", "trainer.precision=32-true"]


def _setup(cfg):
    data = RunData()
    return task_of(cfg).setup(cfg, data.prepare(cfg, data.dataset(cfg)), {"config": {}})


def _finite_costs(cost) -> bool:
    units = (cost.setup_s, cost.train_s_per_example, cost.eval_s_per_example, cost.checkpoint_s)
    return all(math.isfinite(u) and u > 0 for u in units)


@pytest.mark.slow  # a QA probe, about 30 s: make test-slow
def test_a_qa_run_is_timed_per_window_and_its_training_set_counted_in_questions(tmp_path):
    cfg = compose_config("train", [*QA, *QA_MODEL], tmp_path)
    threads = torch.get_num_threads()
    cost = probe_run_cost(cfg, threads=threads + 1, steps=2, min_seconds=0.1)
    assert torch.get_num_threads() == threads  # the probe's thread count does not leak into the caller
    setup = _setup(cfg)
    windows = {split: len(setup.datamodule.windows(split)) for split in ("train", "val", "test")}
    # items are windows (what a batch holds and a round pays for); 96-token windows split most contexts
    assert (cost.n_train, cost.n_val, cost.n_test) == (windows["train"], windows["val"], windows["test"])
    assert cost.n_examples == len(setup.dataset.train) < cost.n_train  # train_examples counts questions
    assert cost.batch_size == 8 and _finite_costs(cost)


def test_a_classification_run_counts_texts(cfg_train):
    cfg = cfg_train()
    cost = probe_run_cost(cfg, steps=2, min_seconds=0.1)
    dataset = _setup(cfg).dataset
    assert cost.n_train == cost.n_examples == len(dataset.train) and cost.n_test == len(dataset.test)
    assert _finite_costs(cost)
