"""Tokenizers (HF ``tokenizers``) trained on the training split or loaded pretrained, and batch collation."""

from attentune.tokenization.collate import Collator
from attentune.tokenization.tokenizer import PAD, build_tokenizer, load_tokenizer

__all__ = ["PAD", "Collator", "build_tokenizer", "load_tokenizer"]
