"""Feature selection on the vocabulary: what is kept, what reads as [UNK], renumbering, errors."""

from __future__ import annotations

import json

import pytest

from attentune.errors import ConfigError
from attentune.tokenization import build_tokenizer
from attentune.tokenization.selection import select_vocabulary

TEXTS = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end"] * 5


def _tok(kind: str = "wordpiece"):
    return build_tokenizer(TEXTS, kind=kind, vocab_size=60, min_frequency=1, max_length=32)


def test_frequency_keeps_the_most_frequent_tokens_and_the_rest_reads_as_unk():
    tok = _tok()
    small = select_vocabulary(tok, TEXTS, 0.1, "frequency")
    others = tok.get_vocab_size() - 4
    assert small.get_vocab_size() == 4 + round(0.1 * others)
    kept = set(small.get_vocab())
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the"} <= kept  # "the": the most frequent word
    assert small.token_to_id("[PAD]") == 0 and small.token_to_id("[CLS]") == 2  # the ids models rely on
    assert sorted(small.get_vocab().values()) == list(range(small.get_vocab_size()))  # renumbered, no gaps
    enc = small.encode("the zebra")
    assert enc.tokens == ["[CLS]", "the", "[UNK]"]


def test_attention_scores_choose_the_tokens(tmp_path):
    tok = _tok("char")
    scores = tmp_path / "token_scores.json"
    scores.write_text(json.dumps({"g": 9.0, "m": 8.0, "zz": 7.0}))  # rare letters; "zz" is no token of this vocabulary
    small = select_vocabulary(tok, TEXTS, 2 / (tok.get_vocab_size() - 4), "attention", str(scores))
    assert set(small.get_vocab()) - {"[PAD]", "[UNK]", "[CLS]", "[SEP]"} == {"g", "m"}  # not the frequent " ", "t"
    a = select_vocabulary(tok, TEXTS, 0.5, "random", seed=1).get_vocab()
    assert a == select_vocabulary(tok, TEXTS, 0.5, "random", seed=1).get_vocab()
    assert a != select_vocabulary(tok, TEXTS, 0.5, "random", seed=2).get_vocab()


def test_errors():
    tok = _tok()
    with pytest.raises(ConfigError, match="keep_fraction must be in"):
        select_vocabulary(tok, TEXTS, 0.0)
    with pytest.raises(ConfigError, match="needs feature_selection.scores"):
        select_vocabulary(tok, TEXTS, 0.5, "attention")
    with pytest.raises(ConfigError, match="unknown 'tfidf'"):
        select_vocabulary(tok, TEXTS, 0.5, "tfidf")
    with pytest.raises(ConfigError, match="use tokenizer=wordpiece or tokenizer=char"):
        select_vocabulary(_tok("bpe"), TEXTS, 0.5)
    assert select_vocabulary(tok, TEXTS, 1.0) is tok
