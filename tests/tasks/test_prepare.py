"""The per-process data memo that lets reused tuning workers skip loading, tokenizer training and encoding."""

from __future__ import annotations

from attentune.tasks.prepare import prepare_data
from attentune.tasks.train import train


def test_runs_on_the_same_data_settings_share_tokenizer_and_encoding(cfg_train, tmp_path):
    first = cfg_train(output_dir=tmp_path / "a")
    train(first)
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
