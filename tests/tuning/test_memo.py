"""The data memo that lets reused tuning workers skip loading, tokenizer training and encoding."""

from __future__ import annotations

import pytest

from attentune.tasks.task import task_of
from attentune.tasks.train import train
from attentune.tuning.memo import MemoizedRunData
from conftest import compose_config


def prepared(memo: MemoizedRunData, cfg):
    """What a trial's ``train(cfg, data=memo)`` prepares."""
    return memo.prepare(cfg, memo.dataset(cfg))


def test_runs_on_the_same_data_settings_share_tokenizer_and_encoding(cfg_train, tmp_path):
    memo = MemoizedRunData()
    first = cfg_train(output_dir=tmp_path / "a")
    train(first, data=memo)
    data = prepared(memo, first)
    assert set(data.encoded) == {"train", "val", "test"}  # filled by the run's DataModule

    again = cfg_train("model=bow", "lr_schedule.warmup_ratio=0.2", output_dir=tmp_path / "b")
    assert prepared(memo, again) is data  # model and optimiser settings do not touch the data side

    other = prepared(memo, cfg_train("tokenizer.vocab_size=300"))
    assert other is not data and other.tokenizer.get_vocab_size() <= 300
    assert prepared(memo, cfg_train("max_length=16")) is not data  # truncation is part of the tokenizer


def test_a_rewritten_data_file_is_read_again(cfg_train, tmp_path):
    memo = MemoizedRunData()
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20)))
    first = prepared(memo, cfg_train("data=csv", f"data.path={path}"))
    assert prepared(memo, cfg_train("data=csv", f"data.path={path}")) is first
    path.write_text("text,label\n" + "".join(f"great {i},pos\nawful {i},neg\n" for i in range(30)))
    again = prepared(memo, cfg_train("data=csv", f"data.path={path}"))
    assert again is not first and len(again.dataset.train) > len(first.dataset.train)


@pytest.mark.slow  # QA runs, about 13 s: make test-slow
def test_qa_windows_are_shared_only_between_runs_of_the_same_task_settings(tmp_path):
    memo = MemoizedRunData()
    qa = ["task=qa", "data=squad_synth", "model=mha", "max_length=96", "task.max_question_tokens=32"]
    cfg = compose_config("train", [*qa, "task.stride=16"], tmp_path)
    first = prepared(memo, cfg)
    task = task_of(cfg)
    windows = task.setup(cfg, first, {"config": {}}).datamodule.windows("train")
    again = compose_config("train", [*qa, "task.stride=16", "model.dropout=0.3"], tmp_path)
    assert prepared(memo, again) is first
    assert task.setup(again, first, {"config": {}}).datamodule.windows("train") is windows  # encoded once
    assert prepared(memo, compose_config("train", [*qa, "task.stride=32"], tmp_path)) is not first  # other windows
