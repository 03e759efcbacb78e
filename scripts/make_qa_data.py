"""Write the synthetic SQuAD v2.0-format QA set (``data=squad_synth``) as JSON files, to read or to train on.

    .venv/bin/python scripts/make_qa_data.py /tmp/squad_synth [--seed 1234]
    python src/train.py task=qa data=squad data.train_path=/tmp/squad_synth/train.json \\
        data.val_path=/tmp/squad_synth/val.json data.test_path=/tmp/squad_synth/test.json

What the set is and is not: ``src/attentune/tasks/qa/synth.py``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from attentune.tasks.qa.synth import write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    for name, path in write(args.out_dir, args.seed).items():
        doc = json.loads(path.read_text())
        questions = [q for a in doc["data"] for p in a["paragraphs"] for q in p["qas"]]
        impossible = sum(q["is_impossible"] for q in questions)
        print(f"{name}: {path} ({len(doc['data'])} articles, {len(questions)} questions, {impossible} unanswerable)")


if __name__ == "__main__":
    main()
