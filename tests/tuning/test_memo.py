"""The per-process data memo that lets reused tuning workers skip loading, tokenizer training and encoding."""

from __future__ import annotations

from attentune.tasks.train import train
from attentune.tuning.memo import MemoizedRunData
from conftest import compose_config


def prepare_data(cfg):
    """What a trial's ``train(cfg, data=MemoizedRunData())`` prepares."""
    data = MemoizedRunData()
    return data.prepare(cfg, data.dataset(cfg))


def test_runs_on_the_same_data_settings_share_tokenizer_and_encoding(cfg_train, tmp_path):
    first = cfg_train(output_dir=tmp_path / "a")
    train(first, data=MemoizedRunData())
    data = prepare_data(first)
    assert set(data.encoded) == {"train", "val", "test"}  # filled by the run's DataModule

    again = cfg_train("model=bow", "lr_schedule.warmup_ratio=0.2", output_dir=tmp_path / "b")
    assert prepare_data(again) is data  # model and optimiser settings do not touch the data side

    other = prepare_data(cfg_train("tokenizer.vocab_size=300"))
    assert other is not data and other.tokenizer.get_vocab_size() <= 300
    assert prepare_data(cfg_train("max_length=16")) is not data  # truncation is part of the tokenizer


def test_a_rewritten_data_file_is_read_again(cfg_train, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20)))
    first = prepare_data(cfg_train("data=csv", f"data.path={path}"))
    assert prepare_data(cfg_train("data=csv", f"data.path={path}")) is first
    path.write_text("text,label\n" + "".join(f"great {i},pos\nawful {i},neg\n" for i in range(30)))
    again = prepare_data(cfg_train("data=csv", f"data.path={path}"))
    assert again is not first and len(again.dataset.train) > len(first.dataset.train)


def test_qa_windows_are_shared_only_between_runs_of_the_same_task_settings(tmp_path):
    qa = ["task=qa", "data=squad_synth", "model=mha", "max_length=96", "task.max_question_tokens=32"]
    first = prepare_data(compose_config("train", [*qa, "task.stride=16"], tmp_path))
    assert prepare_data(compose_config("train", [*qa, "task.stride=16", "model.dropout=0.3"], tmp_path)) is first
    assert prepare_data(compose_config("train", [*qa, "task.stride=32"], tmp_path)) is not first  # other windows
