"""Extractive QA data: SQuAD v1.1 / v2.0 JSON files -> :class:`QADataset` (train/val/test, split by article).

A file is read whole and checked before anything trains: malformed JSON, a file that is not SQuAD-shaped, an
empty question or context, a duplicate id, or an answer whose ``answer_start`` does not point at its text in the
context are one-line :class:`DataError` s naming the file and the question's ``id``. Splits that have no file
of their own are carved out of the training file by article (``title``), seeded: questions on one article never
land in two splits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from attentune.errors import ConfigError, DataError


@dataclass(frozen=True)
class QAExample:
    """One question on one context; ``answers`` are ``(text, answer_start)`` pairs, none when unanswerable."""

    id: str
    title: str
    question: str
    context: str = field(repr=False)
    answers: tuple[tuple[str, int], ...] = ()

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class QADataset:
    name: str
    train: list[QAExample] = field(repr=False)
    val: list[QAExample] = field(repr=False)
    test: list[QAExample] = field(repr=False)

    def splits(self) -> dict[str, list[QAExample]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def tokenizer_texts(self) -> list[str]:
        """What a tokenizer trained for this data learns from: the training contexts (each once) and questions."""
        return list(dict.fromkeys(ex.context for ex in self.train)) + [ex.question for ex in self.train]

    @property
    def has_unanswerable(self) -> bool:
        """SQuAD v2.0-style data (some questions have no answer in their context)."""
        return any(not ex.answerable for split in self.splits().values() for ex in split)

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for s in self.splits().values())
        return f"QADataset({self.name!r}, train/val/test={sizes})"


def read_squad(path: str | Path) -> list[QAExample]:
    """Every question of a SQuAD v1.1 or v2.0 file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise DataError(f'{path}: not SQuAD-shaped: expected {{"data": [{{"title", "paragraphs": [...]}}]}}')
    examples: list[QAExample] = []
    seen: set[str] = set()
    for a, article in enumerate(doc["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: not SQuAD-shaped: data[{a}] has no list of paragraphs")
        title = str(article.get("title", f"article-{a}"))
        for p, paragraph in enumerate(paragraphs):
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise DataError(f"{path}: not SQuAD-shaped: data[{a}].paragraphs[{p}] has no list of qas")
            context = paragraph.get("context")
            for qa in paragraph["qas"]:
                examples.append(_example(path, qa, title, context, seen))
    if not examples:
        raise DataError(f"{path}: no questions")
    return examples


def _example(path: Path, qa: object, title: str, context: object, seen: set[str]) -> QAExample:
    if not isinstance(qa, dict) or "id" not in qa:
        raise DataError(f"{path}: not SQuAD-shaped: a question without an id")
    qid = str(qa["id"])
    if qid in seen:
        raise DataError(f"{path}: id {qid}: the id is used twice")
    seen.add(qid)
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{path}: id {qid}: empty question")
    if not isinstance(context, str) or not context.strip():
        raise DataError(f"{path}: id {qid}: empty context")
    answers = []
    for ans in [] if qa.get("is_impossible") else qa.get("answers") or []:
        text, start = ans.get("text") if isinstance(ans, dict) else None, ans.get("answer_start", -1)
        if not isinstance(text, str) or not text or not isinstance(start, int):
            raise DataError(f"{path}: id {qid}: an answer needs a text and an integer answer_start")
        if context[start : start + len(text)] != text:
            found = context[max(0, start) : max(0, start) + len(text)]
            raise DataError(
                f"{path}: id {qid}: answer {text!r} is not at answer_start {start} (the context has {found!r})"
            )
        answers.append((text, start))
    if not answers and not qa.get("is_impossible"):
        raise DataError(f"{path}: id {qid}: no answers and not is_impossible")
    return QAExample(qid, title, question, context, tuple(answers))


def split_by_article(
    examples: list[QAExample], fractions: tuple[float, float], seed: int
) -> tuple[list[QAExample], list[QAExample], list[QAExample]]:
    """(rest, val, test): whole articles, shuffled with ``seed``, about ``fractions`` of the questions each."""
    titles = sorted({ex.title for ex in examples})
    random.Random(seed).shuffle(titles)
    count = {t: 0 for t in titles}
    for ex in examples:
        count[ex.title] += 1
    parts: list[set[str]] = [set(), set(), set()]
    targets = [fractions[0] * len(examples), fractions[1] * len(examples)]
    filled = [0, 0]
    for t in titles:  # val first, then test, then the rest: each takes articles until it has its share
        i = next((k for k in (0, 1) if targets[k] > 0 and filled[k] < targets[k]), 2)
        parts[i].add(t)
        if i < 2:
            filled[i] += count[t]
    val, test, rest = ([ex for ex in examples if ex.title in part] for part in parts)
    return rest, val, test


def load_squad(
    train_path: str | None = None,
    val_path: str | None = None,
    test_path: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    split_seed: int = 1234,
    name: str | None = None,
) -> QADataset:
    """``data=squad``: a training file, and a validation and test file each or splits carved out of training."""
    if not train_path:
        raise ConfigError("data.train_path: give a SQuAD v1.1/v2.0 JSON file (data=squad data.train_path=train.json)")
    train = read_squad(train_path)
    val = read_squad(val_path) if val_path else None
    test = read_squad(test_path) if test_path else None
    fractions = (0.0 if val is not None else val_fraction, 0.0 if test is not None else test_fraction)
    if any(f > 0 for f in fractions):
        train, carved_val, carved_test = split_by_article(train, fractions, split_seed)
        val = carved_val if val is None else val
        test = carved_test if test is None else test
    for split, items in (("train", train), ("val", val), ("test", test)):
        if not items:
            raise DataError(
                f"{train_path}: the {split} split is empty (too few articles to split; give data.{split}_path)"
            )
    return QADataset(name or Path(train_path).stem, train, val, test)
