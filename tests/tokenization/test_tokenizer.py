import pytest
import torch

from attentune.errors import ConfigError
from attentune.tokenization import Collator, build_tokenizer, load_tokenizer

TEXTS = ["The movie was great fun", "the plot was dull and slow", "Great acting, dull plot!"] * 20


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "char"])
def test_trained_tokenizers_share_the_pad_and_cls_convention(kind):
    tok = build_tokenizer(TEXTS, kind=kind, vocab_size=400, min_frequency=1, max_length=64)
    assert tok.token_to_id("[PAD]") == 0
    enc = tok.encode("the movie was dull")
    assert enc.tokens[0] == "[CLS]"
    assert tok.token_to_id("[UNK]") not in enc.ids[1:]  # all seen during training
    assert tok.get_vocab_size() <= 400


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "char"])
def test_training_is_deterministic(kind):
    # Many equally frequent pieces: HF's WordPiece trainer alone breaks these ties differently run to run
    # (its continuation pieces get ids in hash order), which used to change the vocabulary itself.
    texts = [f"token{i % 37} common words here {i % 11} x{i % 13}y{i % 7}" for i in range(400)]
    first = build_tokenizer(texts, kind=kind, vocab_size=120, min_frequency=1)
    for _ in range(6):
        assert build_tokenizer(texts, kind=kind, vocab_size=120, min_frequency=1).to_str() == first.to_str()


def test_wordpiece_continuation_pieces_are_plain_vocabulary():
    tok = build_tokenizer(TEXTS, kind="wordpiece", vocab_size=200, min_frequency=1)
    vocab = tok.get_vocab()
    assert [t for t, i in sorted(vocab.items(), key=lambda kv: kv[1])[:4]] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    assert "##t" in vocab
    special = {t.content for t in tok.get_added_tokens_decoder().values()}
    assert special == {"[PAD]", "[UNK]", "[CLS]", "[SEP]"}


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
