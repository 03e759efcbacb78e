"""Datasets: built-in corpora, the user's own files, seeded splits and their on-disk cache.

Every loader returns a ``TextDataset``; ``conf/data/*.yaml`` point ``_target_`` at one of them.
"""

from attentune.data.builtin import load_bbc_news, load_mr, load_sms_spam, load_trec
from attentune.data.files import load_csv
from attentune.data.types import Split, TextDataset

__all__ = ["Split", "TextDataset", "load_bbc_news", "load_csv", "load_mr", "load_sms_spam", "load_trec"]
