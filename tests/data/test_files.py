"""The user's own data files: formats, split modes, labels and every bad-input message."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import hydra
import pandas as pd
import pytest
from omegaconf import OmegaConf

from attentune.data import load_csv
from attentune.errors import AttentuneError, ConfigError, DataError

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


def _rows(n: int, labels: tuple = ("neg", "pos")) -> list[dict]:
    return [{"text": f"text number {i}", "label": labels[i % len(labels)]} for i in range(n)]


def _write(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return path


def _raises(exc: type[AttentuneError], match: str, **kwargs) -> str:
    """Call load_csv(**kwargs), expect ``exc`` with a one-line message matching ``match``."""
    with pytest.raises(exc, match=match) as e:
        load_csv(**kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


# ----------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_each_format_loads_and_splits(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path / f"reviews{suffix}", _rows(100))
    ds = load_csv(path=str(path))
    assert ds.name == "reviews"
    assert ds.label_names == ["neg", "pos"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (80, 10, 10)
    assert Counter(ds.test.labels) == {0: 5, 1: 5}  # stratified
    texts = ds.train.texts + ds.val.texts + ds.test.texts
    assert sorted(texts) == sorted(r["text"] for r in _rows(100))


def test_quoted_fields_with_newlines_delimiters_and_quotes_parse(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        'text,label\n"line one\nline two, still the same text",a\n"she said ""hi""",b\nplain,a\n'
        '"tab\there\r\nand CRLF",b\n',
        encoding="utf-8",
    )
    ds = load_csv(path=str(path), val_fraction=0.25, test_fraction=0.25)
    texts = {t: ds.label_names[y] for s in ds.splits().values() for t, y in zip(s.texts, s.labels, strict=True)}
    assert texts == {
        "line one\nline two, still the same text": "a",
        'she said "hi"': "b",
        "plain": "a",
        "tab\there\r\nand CRLF": "b",
    }


def test_custom_columns_and_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id;sentence;y\n" + "".join(f"{i};s {i};{i % 3}\n" for i in range(30)))
    ds = load_csv(path=str(path), text_column="sentence", label_column="y", delimiter=";")
    assert ds.label_names == ["0", "1", "2"]
    assert len(ds.train) + len(ds.val) + len(ds.test) == 30


def test_integer_labels_keep_numeric_order_across_formats(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": [10, 2, -1][i % 3]} for i in range(30)]
    for suffix in (".csv", ".jsonl", ".parquet"):
        ds = load_csv(path=str(_write(tmp_path / f"d{suffix}", rows)))
        assert ds.label_names == ["-1", "2", "10"], suffix  # lexicographic would be 10 < 2
        first = {t: ds.label_names[y] for t, y in zip(ds.train.texts, ds.train.labels, strict=True)}
        assert all(first[t] == str(r["label"]) for r in rows if (t := r["text"]) in first)


def test_float_labels_from_a_nullable_column_become_integers(tmp_path: Path) -> None:
    # pandas stores an integer column with a missing value as float64: 1.0, NaN, ...
    rows = [{"text": f"t{i}", "label": float(i % 2)} for i in range(20)] + [{"text": "x", "label": None}]
    ds = load_csv(path=str(_write(tmp_path / "d.parquet", rows)))
    assert ds.label_names == ["0", "1"]
    assert len(ds.train) + len(ds.val) + len(ds.test) == 20


def test_string_labels_are_sorted(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", _rows(40, labels=("sport", "arts", "tech", "10")))
    assert load_csv(path=str(path)).label_names == ["10", "arts", "sport", "tech"]


def test_utf8_bom_header_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\n".encode("utf-8-sig") + b"".join(b"t%d,%d\n" % (i, i % 2) for i in range(20)))
    assert load_csv(path=str(path)).label_names == ["0", "1"]


def test_hydra_conf_instantiates_with_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "mine.tsv", _rows(50))
    monkeypatch.chdir(tmp_path)
    cfg = OmegaConf.load(CONF / "csv.yaml")
    cfg.merge_with({"path": "mine.tsv"})
    ds = hydra.utils.instantiate(cfg)
    assert ds.name == "mine" and ds.num_classes == 2


# ----------------------------------------------------------------------------------------------- split modes


def test_path_split_is_seeded(tmp_path: Path) -> None:
    path = str(_write(tmp_path / "d.csv", _rows(200)))
    a, b, c = load_csv(path=path), load_csv(path=path), load_csv(path=path, split_seed=5)
    assert a == b
    assert set(a.test.texts) != set(c.test.texts)
    assert not set(a.train.texts) & set(a.test.texts)


def test_train_only_carves_val_and_test(tmp_path: Path) -> None:
    ds = load_csv(train_path=str(_write(tmp_path / "train.csv", _rows(50))), val_fraction=0.2)
    assert ds.name == "train"
    assert (len(ds.train), len(ds.val), len(ds.test)) == (35, 10, 5)


def test_train_and_test_files_carve_val_from_train(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _rows(40))
    test = _write(tmp_path / "test.jsonl", [{"text": "held out", "label": "pos"}, {"text": "other", "label": "neg"}])
    ds = load_csv(train_path=str(train), test_path=str(test), val_fraction=0.25, test_fraction=0.5)
    assert ds.test.texts == ["held out", "other"] and ds.test.labels == [
        1,
        0,
    ]  # file order, test_fraction unused
    assert (len(ds.train), len(ds.val)) == (30, 10)
    assert Counter(ds.val.labels) == {0: 5, 1: 5}


def test_train_val_test_files_are_used_as_given(tmp_path: Path) -> None:
    files = {
        role: str(_write(tmp_path / f"{role}.csv", _rows(n))) for role, n in (("train", 8), ("val", 4), ("test", 2))
    }
    ds = load_csv(
        train_path=files["train"],
        val_path=files["val"],
        test_path=files["test"],
        val_fraction=0,
        test_fraction=0,
    )
    assert (len(ds.train), len(ds.val), len(ds.test)) == (8, 4, 2)
    assert ds.train.texts == [r["text"] for r in _rows(8)]


def test_duplicates_across_splits_are_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    train = _write(tmp_path / "train.csv", _rows(20))
    test = _write(tmp_path / "test.csv", _rows(3))
    with caplog.at_level(logging.WARNING):
        load_csv(train_path=str(train), test_path=str(test))
    assert "data: 3 val/test texts also occur in train" in caplog.text


def test_tiny_classes_fall_back_to_a_random_split(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"text": f"t{i}", "label": f"class{i}"} for i in range(10)]
    with caplog.at_level(logging.WARNING):
        ds = load_csv(path=str(_write(tmp_path / "d.csv", rows)))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (8, 1, 1)
    assert ds.num_classes == 10
    assert (
        "data.path: classes too small to stratify (10 of 10 classes have a single example); splitting at" in caplog.text
    )


# ----------------------------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path: Path) -> None:
    _raises(DataError, r"^data\.path: file not found: .*nope\.csv$", path=str(tmp_path / "nope.csv"))


def test_missing_val_file_fails_before_reading_train(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _rows(10))
    _raises(
        DataError,
        r"^data\.val_path: file not found: ",
        train_path=str(train),
        val_path=str(tmp_path / "v.csv"),
    )


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "d.xlsx"
    path.write_text("x")
    msg = _raises(ConfigError, r"^data\.path: unknown file extension '\.xlsx'", path=str(path))
    assert ".csv, .tsv, .jsonl, .parquet" in msg


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_missing_column_lists_the_available_ones(tmp_path: Path, suffix: str) -> None:
    path = str(_write(tmp_path / f"d{suffix}", _rows(10)))
    _raises(
        DataError,
        r"^data\.text_column: column 'review' not found in .*; available columns: text, label$",
        path=path,
        text_column="review",
    )
    _raises(DataError, r"^data\.label_column: column 'y' not found in ", path=path, label_column="y")


def test_empty_and_whitespace_texts_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = _rows(20) + [{"text": "", "label": "pos"}, {"text": "  \t ", "label": "neg"}]
    with caplog.at_level(logging.WARNING):
        ds = load_csv(path=str(_write(tmp_path / "d.csv", rows)))
    assert len(ds.train) + len(ds.val) + len(ds.test) == 20
    assert "data.path: dropped 2 of 22 rows with an empty or whitespace-only 'text' (data rows 21, 22)" in caplog.text


def test_all_empty_texts_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", [{"text": " ", "label": "a"}] * 5)
    _raises(DataError, r"^data\.path: column 'text' is empty or whitespace-only in all 5 rows$", path=str(path))


def test_missing_labels_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(20)) + "orphan,\nalso orphan, \n")
    with caplog.at_level(logging.WARNING):
        ds = load_csv(path=str(path))
    assert "orphan" not in {t for s in ds.splits().values() for t in s.texts}
    assert "data.path: dropped 2 of 22 rows with a missing 'label' (data rows 21, 22)" in caplog.text


def test_all_labels_missing_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", [{"text": "a"}, {"text": "b", "label": None}])
    _raises(DataError, r"^data\.path: no usable rows: every row with a text lacks a 'label'$", path=str(path))


def test_label_in_test_never_seen_in_train(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _rows(20))
    test = _write(tmp_path / "test.csv", _rows(4) + [{"text": "?", "label": "meh"}] * 2)
    _raises(
        DataError,
        r"^data\.test_path: labels never seen in the training data: 'meh' \(2 rows\); "
        r"training labels: 'neg', 'pos'$",
        train_path=str(train),
        test_path=str(test),
    )


def test_non_utf8_bytes_are_replaced_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "d.csv"
    body = "".join(f"t{i},{i % 2}\n" for i in range(20)).encode()
    path.write_bytes(b"text,label\ncaf\xe9 cr\xe8me,1\n" + body)  # latin-1, not UTF-8
    with caplog.at_level(logging.WARNING):
        ds = load_csv(path=str(path))
    texts = {t for s in ds.splits().values() for t in s.texts}
    assert "caf\ufffd cr\ufffdme" in texts
    assert "data.path: " in caplog.text and "is not valid UTF-8 (first bad byte near offset 14)" in caplog.text


def test_non_utf8_jsonl_is_replaced_too(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(
        b'{"text": "na\xefve", "label": 1}\n'
        + b"".join(b'{"text": "t%d", "label": %d}\n' % (i, i % 2) for i in range(20))
    )
    with caplog.at_level(logging.WARNING):
        ds = load_csv(path=str(path))
    assert "na\ufffdve" in {t for s in ds.splits().values() for t in s.texts}
    assert "is not valid UTF-8" in caplog.text


def test_a_single_class_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", _rows(10, labels=("spam",)))
    _raises(
        DataError,
        r"^data\.path: only one class \('spam'\) in column 'label'; classification needs at least 2$",
        path=str(path),
    )


def test_too_few_rows_for_the_fractions(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", _rows(2))
    _raises(
        DataError,
        r"^data\.path: too few rows \(2\) for val_fraction=0\.1 and test_fraction=0\.1: "
        r"no rows left for training$",
        path=str(path),
    )


def test_zero_fraction_without_a_file_would_leave_a_split_empty(tmp_path: Path) -> None:
    path = str(_write(tmp_path / "d.csv", _rows(20)))
    _raises(
        ConfigError,
        r"^data\.val_fraction: must be > 0 when data\.val_path is not set",
        path=path,
        val_fraction=0,
    )


def test_empty_val_file_is_an_error(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", _rows(20))
    val = tmp_path / "val.csv"
    val.write_text("text,label\n")
    _raises(DataError, r"^data\.val_path: no data rows in ", train_path=str(train), val_path=str(val))


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("")
    _raises(DataError, r"^data\.path: file is empty: ", path=str(path))


def test_a_row_with_an_unquoted_delimiter_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\ngood,pos\nI liked it, really,pos\n")
    _raises(
        DataError,
        r"^data\.path: .*d\.csv line 3: 3 fields where the header has 2; is there an unquoted ','",
        path=str(path),
    )


def test_an_unbalanced_quote_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"never closed,pos\nnext,neg\n')
    _raises(DataError, r"^data\.path: .* 1 fields where the header has 2; .*unbalanced", path=str(path))


def test_trailing_delimiters_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2},\n\n" for i in range(20)))
    ds = load_csv(path=str(path))
    assert ds.label_names == ["0", "1"] and len(ds.train) + len(ds.val) + len(ds.test) == 20


def test_invalid_json_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\n{"text": "b", label: 2}\n')
    _raises(DataError, r"^data\.path: .*d\.jsonl line 2: invalid JSON", path=str(path))


def test_tsv_with_an_unbalanced_quote_warns_about_merged_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "d.tsv"
    path.write_text(
        "text\tlabel\n" + "".join(f"t{i}\t{i % 2}\n" for i in range(10)) + '"oops\t1\nnext\t0\nmore" x\t1\n'
    )
    with caplog.at_level(logging.WARNING):
        load_csv(path=str(path), val_fraction=0.2, test_fraction=0.2)
    assert "span several lines that contain tabs" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"val_fraction": 0.5, "test_fraction": 0.5},
            r"^data\.val_fraction \+ data\.test_fraction: must be < 1",
        ),
        ({"val_fraction": -0.1}, r"^data\.val_fraction: must be a number in \[0, 1\), got -0\.1$"),
        ({"test_fraction": 1.0}, r"^data\.test_fraction: must be a number in \[0, 1\), got 1\.0$"),
        ({"test_fraction": "0.1"}, r"^data\.test_fraction: must be a number in \[0, 1\), got '0\.1'$"),
        ({"split_seed": -1}, r"^data\.split_seed: must be a non-negative integer, got -1$"),
    ],
)
def test_bad_split_options(tmp_path: Path, kwargs: dict, match: str) -> None:
    _raises(ConfigError, match, path=str(_write(tmp_path / "d.csv", _rows(20))), **kwargs)


def test_bad_file_combinations(tmp_path: Path) -> None:
    f = str(_write(tmp_path / "d.csv", _rows(20)))
    _raises(ConfigError, r"^data\.path: not set; set data\.path=<file>", text_column="text")
    _raises(ConfigError, r"^data\.path: set either data\.path .* or data\.train_path$", path=f, train_path=f)
    _raises(ConfigError, r"^data\.test_path: only used with data\.train_path", path=f, test_path=f)
    _raises(ConfigError, r"^data\.train_path: not set; data\.val_path and data\.test_path need it$", val_path=f)
    _raises(ConfigError, r"^data\.label_column: must differ from data\.text_column", path=f, label_column="text")
