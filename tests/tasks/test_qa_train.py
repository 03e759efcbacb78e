"""``task=qa`` through the real ``src/train.py``: a tiny extractive QA run for each family with a span head."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from attentune.tasks.cli import run_task
from attentune.tasks.train import train
from conftest import QA_TINY, REPO, TUNE_QA, compose_config

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


def tune_cli(*overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "src/tune.py", *overrides], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.ray
@pytest.mark.slow  # a 2-trial sweep and its leaderboard, about 45 s: make test-slow
def test_a_qa_sweep_searches_the_qa_space_and_ranks_by_f1_against_the_lexical_reference(tmp_path):
    sweep = tmp_path / "sweep"
    proc = tune_cli("-m", *TUNE_QA, f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(sweep / "mha_squad_synth" / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "TERMINATED").all()
    assert set(trials["param:max_length"]) <= {192, 256}  # the family's `qa:` space, not its classification one
    assert "param:model.pooling" not in trials
    assert trials[["val/f1", "test/f1", "test/exact", "test/HasAns_f1"]].notna().all().all()
    board = pd.read_csv(sweep / "leaderboard.csv").set_index("row")
    shown = [c for c in board.columns if c.startswith("test/")]
    assert "best val/f1" in board and shown[:2] == ["test/f1", "test/exact"] and "test/HasAns_f1" in shown
    assert board.loc["reference", "note"] == "lexical overlap (no learning)"
    assert board.loc["reference", "test/f1"] > 0.9  # the synthetic set's lexical shortcut, shown next to the models


@pytest.mark.slow  # a QA probe and plan, about 19 s: make test-slow
def test_a_qa_search_budget_is_planned_from_a_probe_of_its_default_trial(tmp_path):
    sweep = tmp_path / "sweep"
    proc = tune_cli("-m", "task=qa", "data=squad_synth", "model=mha", "budget=5s", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: budget=5s: no study can run one trial (")
    assert "one trial needs ≈" in line  # QA's default trial was probed (its windows timed), before any training
    assert not list(sweep.glob("**/trials.csv"))
