import pytest
import torch
from tokenizers import models

from attentune.errors import ConfigError
from attentune.tokenization import Collator, build_tokenizer, load_tokenizer
from attentune.tokenization.tokenizer import _renumber_wordpiece

TEXTS = ["The movie was great fun", "the plot was dull and slow", "Great acting, dull plot!"] * 20


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "char"])
def test_trained_tokenizers_share_the_pad_and_cls_convention(kind):
    tok = build_tokenizer(TEXTS, kind=kind, vocab_size=400, min_frequency=1, max_length=64)
    assert tok.token_to_id("[PAD]") == 0
    enc = tok.encode("the movie was dull")
    assert enc.tokens[0] == "[CLS]"
    assert tok.token_to_id("[UNK]") not in enc.ids[1:]  # all seen during training
    assert tok.get_vocab_size() <= 400


@pytest.mark.parametrize("kind", ["bpe", "char"])
def test_training_is_deterministic(kind):
    texts = [f"token{i % 37} common words here {i % 11}" for i in range(400)]
    first = build_tokenizer(texts, kind=kind, vocab_size=300, min_frequency=1)
    for _ in range(4):
        assert build_tokenizer(texts, kind=kind, vocab_size=300, min_frequency=1).to_str() == first.to_str()


def test_wordpiece_ids_do_not_depend_on_the_trainers_hash_order():
    # HF's WordPiece trainer hands out ids in hash order; the same vocabulary must always get the same ids.
    tok = build_tokenizer(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1)
    vocab = tok.get_vocab()
    shuffled = dict(zip(reversed(sorted(vocab, key=vocab.get)), range(len(vocab)), strict=True))
    tok.model = models.WordPiece(vocab=shuffled, unk_token="[UNK]")
    assert tok.get_vocab() != vocab
    _renumber_wordpiece(tok)
    assert tok.get_vocab() == vocab


def test_truncation_to_max_length():
    tok = build_tokenizer(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1, max_length=5)
    assert len(tok.encode(" ".join(TEXTS)).ids) == 5


def test_lowercase_option():
    lower = build_tokenizer(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1, lowercase=True)
    cased = build_tokenizer(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1, lowercase=False)
    assert lower.encode("GREAT").ids == lower.encode("great").ids
    assert cased.encode("Great").ids != cased.encode("great").ids


def test_char_tokenizer_keeps_whitespace():
    tok = build_tokenizer(TEXTS, kind="char", vocab_size=100, min_frequency=1, lowercase=False)
    assert tok.encode("a t").tokens == ["[CLS]", "a", " ", "t"]
    assert tok.encode("a z").tokens[-1] == "[UNK]"  # never seen in training


def test_minilm_tokenizer_is_pretrained_and_not_padded():
    tok = build_tokenizer([], kind="minilm", vocab_size=30522, max_length=16)
    enc = tok.encode("Hello there")
    assert enc.tokens == ["[CLS]", "hello", "there", "[SEP]"]  # no padding to 128
    assert tok.get_vocab_size() == 30522
    assert len(tok.encode("word " * 100).ids) == 16


def test_saved_tokenizer_round_trips(tmp_path):
    tok = build_tokenizer(TEXTS, kind="bpe", vocab_size=300, min_frequency=1, max_length=12)
    tok.save(str(tmp_path / "tokenizer.json"))
    for loaded in (load_tokenizer(str(tmp_path / "tokenizer.json")), load_tokenizer(tok.to_str())):
        assert loaded.encode(TEXTS[2]).ids == tok.encode(TEXTS[2]).ids
        assert len(loaded.encode(" ".join(TEXTS)).ids) == 12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "sentencepiece"}, "unknown tokenizer"),
        ({"vocab_size": 3}, "vocab_size"),
        ({"max_length": 1}, "max_length"),
    ],
)
def test_bad_tokenizer_config(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_tokenizer(TEXTS, **kwargs)


def test_collator_pads_dynamically_and_masks():
    batch = Collator(pad_id=0)([([2, 5, 6], 1), ([2, 7], 0)])
    assert batch["input_ids"].tolist() == [[2, 5, 6], [2, 7, 0]]
    assert batch["attention_mask"].tolist() == [[True, True, True], [True, True, False]]
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]
