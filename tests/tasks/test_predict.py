"""Checkpoints of either task, re-scored (evaluate) and used (predict), and inputs meant for the other task."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_qa_train import QA_TINY

from attentune.errors import AttentuneError
from attentune.serving.predict import predict
from attentune.tasks.evaluate import evaluate
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
    summary = predict(predict_cfg(ckpt, tmp_path, f"input={records}", f"output={answers}"))
    written = [json.loads(line) for line in answers.read_text().splitlines()]
    assert summary["rows"] == 2 and [r["id"] for r in written] == ["a", "b"]  # the input's fields, then the answer
    assert list(written[0]) == ["id", "question", "context", "answer", "answer_start", "score", "no_answer"]
    assert written[0] == one | {"id": "a"}  # the same input gives the same answer, alone or in a file
    for r in written:  # answer_start points at the answer in its context, or is -1 for none
        start = r["answer_start"]
        assert (r["answer"], r["no_answer"]) == ("", True) and start == -1 or CONTEXT[start:].startswith(r["answer"])


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
        predict(predict_cfg(qa_ckpt, tmp_path, f"input={bad}", f"output={answers}", "overwrite=true"))
    bad.write_text(json.dumps({"id": "q9", "question": " ", "context": CONTEXT}) + "\n")
    with pytest.raises(AttentuneError, match=r"line 1 \(id q9\) has no question"):
        predict(predict_cfg(qa_ckpt, tmp_path, f"input={bad}", f"output={answers}", "overwrite=true"))
    assert answers.read_text() == "earlier results\n"


def test_a_classification_checkpoint_predicts_a_label_with_probabilities(classifier, tmp_path):
    (one,) = predict(predict_cfg(classifier, tmp_path, "text='a gripping, beautifully acted film'"))
    probs = {k.removeprefix("prob_"): v for k, v in one.items() if k.startswith("prob_")}
    assert set(probs) == {"negative", "positive"} and sum(probs.values()) == pytest.approx(1.0)
    assert one["pred"] == max(probs, key=probs.get) and one["text"] == "a gripping, beautifully acted film"


TEXTS = ["a gripping, beautifully acted film", "dull, slow and far too long", "007", "the plot, sadly, goes nowhere"]


def write_table(path, rows):
    """``rows`` (dicts) as a .csv/.tsv/.jsonl/.parquet file, by ``path``'s extension."""
    frame = pd.DataFrame(rows)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")


def read_table(path):
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_predict_keeps_every_input_column_in_order_and_writes_the_inputs_format(classifier, fmt, tmp_path):
    # the user's id (a string with leading zeros), a text column named otherwise, and a column after it
    rows = [{"id": f"00{i}", "review": t, "stars": str(i)} for i, t in enumerate(TEXTS)]
    src, out = tmp_path / f"in.{fmt}", tmp_path / f"out.{fmt}"
    write_table(src, rows)
    summary = predict(predict_cfg(classifier, tmp_path, f"input={src}", f"output={out}", "text_column=review"))
    got = read_table(out)
    assert summary["rows"] == len(TEXTS)
    assert list(got.columns) == ["id", "review", "stars", "pred", "prob_negative", "prob_positive"]
    assert got["id"].tolist() == [r["id"] for r in rows] and got["review"].tolist() == TEXTS  # joinable back
    # the same predictions as one text at a time on the command line (length-sorted batches change nothing)
    for text, (_, row) in zip(TEXTS, got.iterrows(), strict=True):
        (one,) = predict(predict_cfg(classifier, tmp_path, f"text='{text}'"))
        assert row["pred"] == one["pred"] and float(row["prob_positive"]) == pytest.approx(one["prob_positive"], 1e-5)
    if fmt == "parquet":  # the input's column types are kept, the added ones are typed
        schema, given = pq.read_schema(out), pq.read_schema(src)
        assert [schema.field(c).type for c in ("id", "stars")] == [given.field(c).type for c in ("id", "stars")]
        assert str(schema.field("prob_positive").type) == "double"


def test_predict_streams_in_chunks_and_refuses_to_overwrite_or_to_leave_partial_output(classifier, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_table(src, [{"text": TEXTS[i % 4]} for i in range(10)] + [{"text": "  "}])
    out.write_text("the user's earlier results\n")
    with pytest.raises(AttentuneError, match="out.csv exists; .*overwrite=true"):
        predict(predict_cfg(classifier, tmp_path, f"input={src}", f"output={out}"))
    # chunks of 3 rows: the blank text on line 12 fails after three chunks were written, and the old file stays
    with pytest.raises(AttentuneError, match=r"in.csv: line 12 has no text"):
        predict(predict_cfg(classifier, tmp_path, f"input={src}", f"output={out}", "overwrite=true", "chunk_rows=3"))
    assert out.read_text() == "the user's earlier results\n" and list(tmp_path.glob(".out.csv*")) == []
    write_table(src, [{"text": TEXTS[i % 4]} for i in range(10)])
    again = ["overwrite=true", "chunk_rows=3"]
    summary = predict(predict_cfg(classifier, tmp_path, f"input={src}", f"output={out}", *again))
    assert summary["rows"] == 10 and read_table(out)["text"].tolist() == [TEXTS[i % 4] for i in range(10)]


def test_predict_input_mistakes_are_one_line_errors(classifier, tmp_path):
    src = tmp_path / "in.csv"
    write_table(src, [{"id": 1, "body": "fine"}])
    with pytest.raises(AttentuneError, match="text_column: column 'text' not found in .*available columns: id, body"):
        predict(predict_cfg(classifier, tmp_path, f"input={src}"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(AttentuneError, match="empty.csv is empty"):
        predict(predict_cfg(classifier, tmp_path, f"input={tmp_path / 'empty.csv'}"))
    (tmp_path / "header.csv").write_text("text\n")
    with pytest.raises(AttentuneError, match="header.csv has no rows"):
        predict(predict_cfg(classifier, tmp_path, f"input={tmp_path / 'header.csv'}", f"output={tmp_path / 'o.csv'}"))
    assert not (tmp_path / "o.csv").exists()
    (tmp_path / "in.xlsx").write_text("")
    with pytest.raises(AttentuneError, match=r"unknown file extension '.xlsx'"):
        predict(predict_cfg(classifier, tmp_path, f"input={tmp_path / 'in.xlsx'}"))
    write_table(src, [{"text": "fine", "pred": "mine"}])
    with pytest.raises(AttentuneError, match="already has the column 'pred'"):
        predict(predict_cfg(classifier, tmp_path, f"input={src}"))
