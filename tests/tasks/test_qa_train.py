"""``task=qa`` through the real ``src/train.py``: a tiny extractive QA run for each family with a span head."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from attentune.tasks.cli import run_task
from attentune.tasks.train import train
from conftest import REPO, compose_config

# A few batches of short windows on the synthetic SQuAD v2.0 set (generated once into the test cache).
QA_TINY = [
    "task=qa",
    "data=squad_synth",
    "max_length=96",
    "task.stride=16",
    "task.max_question_tokens=32",
    "batch_size=8",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "trainer.precision=32-true",
    "latency.batch_sizes=[1]",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]
FAMILY = {
    "mha": ["model=mha", "d_model=16", "heads=2", "layers=1", "tokenizer.vocab_size=500"],
    "minilm": ["model=minilm", "train_examples=null"],
}


def train_cli(*overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "src/train.py", *overrides], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("family", ["mha", pytest.param("minilm", marks=pytest.mark.slow)])
def test_a_tiny_qa_run_writes_a_run_scored_by_exact_match_and_f1(tmp_path, family):
    run = tmp_path / "run"
    proc = train_cli(*QA_TINY, *FAMILY[family], f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test/exact", "test/f1", "test/HasAns_f1", "test/NoAns_f1", "val/f1_best", "latency_ms/b1"):
        assert 0 <= metrics[key] and (key.startswith("latency") or metrics[key] <= 1), key
    assert metrics["val/f1_best"] == metrics["val/f1_best"]  # validated: not NaN
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["best.ckpt"]
    # the checkpoint carries the task and the no-answer threshold chosen on validation
    import torch

    ckpt = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert ckpt["attentune"]["config"]["task"]["name"] == "qa" and "threshold" in {
        k.rsplit(".", 1)[-1] for k in ckpt["state_dict"]
    }


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model=bow"], "model: bow has no span head (task=qa needs model=mha or model=minilm)"),
        (["model=cnn"], "model: cnn has no span head"),
        (["model=mha", "data=mr"], "task=qa: data=mr is not question answering data"),
        (["model=mha", "task.stride=80"], "task.stride=80 + task.max_question_tokens=32 leave no new context"),
    ],
)
def test_qa_with_a_model_or_data_it_cannot_use_is_one_line(tmp_path, capsys, overrides, message):
    cfg = compose_config("train", [*QA_TINY, *overrides], tmp_path / "run")
    with pytest.raises(SystemExit) as stop:  # what the entry point runs (the real one: below)
        run_task(train, cfg)
    assert stop.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"error: {message}"), last
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_the_entry_point_refuses_a_family_without_a_span_head_in_one_line(tmp_path):
    proc = train_cli(*QA_TINY, "model=bilstm", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith("error: model: bilstm has no span")


def test_tune_refuses_qa_in_one_line_until_it_can_search_it(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for extra in ([],):  # (-m: the sweep's budget plan makes the same check before probing)
        proc = subprocess.run(
            [sys.executable, "src/tune.py", *extra, "task=qa", "data=squad_synth", f"hydra.sweep.dir={tmp_path}/s",
             f"hydra.run.dir={tmp_path}/r"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.strip().splitlines()[-1].startswith("error: task=qa: tune.py does not search it yet")
