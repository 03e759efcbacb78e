"""Checkpoints of either task, re-scored (evaluate) and used (predict), and inputs meant for the other task."""

from __future__ import annotations

import json

import pytest
from test_qa_train import QA_TINY

from attentune.errors import AttentuneError
from attentune.tasks.evaluate import evaluate
from attentune.tasks.predict import predict
from attentune.tasks.train import train
from conftest import TINY, compose_config

CONTEXT = "The band was formed in London in 1998. Its first album sold 300,000 copies in Britain."


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qa")
    cfg = compose_config("train", [*QA_TINY, "model=mha", "d_model=16", "heads=2", "layers=1"], out)
    return out, train(cfg)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    train(compose_config("train", TINY, out))
    return out / "checkpoints" / "best.ckpt"


def predict_cfg(ckpt, tmp_path, *overrides):
    return compose_config("predict", [f"ckpt_path={ckpt}", *overrides], tmp_path)


def test_evaluate_rescores_a_qa_checkpoint_with_its_threshold(qa_run, tmp_path):
    out, metrics = qa_run
    # the run tested 2 batches of 64 windows: the same windows here
    overrides = [f"ckpt_path={out}/checkpoints/best.ckpt", "+trainer.limit_test_batches=2", "batch_size=64"]
    cfg = compose_config("evaluate", overrides, tmp_path)
    again = evaluate(cfg)
    for key in ("test/exact", "test/f1", "test/HasAns_f1", "test/NoAns_f1"):
        assert again[key] == pytest.approx(metrics[key]), key


def test_predict_answers_with_a_substring_of_the_context_or_nothing(qa_run, tmp_path):
    out, _ = qa_run
    ckpt = out / "checkpoints" / "best.ckpt"
    (one,) = predict(predict_cfg(ckpt, tmp_path, "question='When was the band formed?'", f"context='{CONTEXT}'"))
    assert one["answer"] == "" or one["answer"] in CONTEXT
    records = tmp_path / "in.jsonl"
    records.write_text(
        json.dumps({"id": "a", "question": "When was the band formed?", "context": CONTEXT})
        + "\n\n"
        + json.dumps({"id": "b", "question": "How many copies did it sell?", "context": CONTEXT})
        + "\n"
    )
    answers = tmp_path / "answers.jsonl"
    got = predict(predict_cfg(ckpt, tmp_path, f"input={records}", f"output={answers}"))
    written = [json.loads(line) for line in answers.read_text().splitlines()]
    assert written == got and [r["id"] for r in written] == ["a", "b"]
    assert written[0] == one | {"id": "a"}  # the same input gives the same answer, alone or in a file


def test_inputs_for_the_other_task_and_bad_lines_are_errors_and_nothing_is_overwritten(qa_run, classifier, tmp_path):
    qa_ckpt = qa_run[0] / "checkpoints" / "best.ckpt"
    with pytest.raises(AttentuneError, match="gives text: this checkpoint is a qa model"):
        predict(predict_cfg(qa_ckpt, tmp_path, "text=hello"))
    with pytest.raises(AttentuneError, match="gives question, context: this checkpoint is a classification model"):
        predict(predict_cfg(classifier, tmp_path, "question=Who?", "context=Nobody."))
    answers = tmp_path / "answers.jsonl"
    answers.write_text("earlier results\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "q1", "question": "Who?", "context": CONTEXT}) + "\n{oops\n")
    with pytest.raises(AttentuneError, match="bad.jsonl line 2: invalid JSON"):
        predict(predict_cfg(qa_ckpt, tmp_path, f"input={bad}", f"output={answers}"))
    bad.write_text(json.dumps({"id": "q9", "question": " ", "context": CONTEXT}) + "\n")
    with pytest.raises(AttentuneError, match=r"line 1 \(id q9\) has no question"):
        predict(predict_cfg(qa_ckpt, tmp_path, f"input={bad}", f"output={answers}"))
    assert answers.read_text() == "earlier results\n"


def test_a_classification_checkpoint_predicts_a_label_with_probabilities(classifier, tmp_path):
    (one,) = predict(predict_cfg(classifier, tmp_path, "text='a gripping, beautifully acted film'"))
    assert one["label"] in ("negative", "positive") and sum(one["probabilities"].values()) == pytest.approx(1.0)
    assert one["label"] == max(one["probabilities"], key=one["probabilities"].get)
