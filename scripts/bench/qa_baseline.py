"""The lexical QA baseline's EM/F1 on a QA dataset's test split (threshold chosen on its val split).

.venv/bin/python scripts/bench/qa_baseline.py                      # data=squad_synth
.venv/bin/python scripts/bench/qa_baseline.py --train train.json --val dev.json --test test.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from attentune.tasks.qa.baseline import baseline_scores
from attentune.tasks.qa.data import load_squad
from attentune.tasks.qa.synth import load_squad_synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", help="a SQuAD file (default: the synthetic set, data=squad_synth)")
    parser.add_argument("--val")
    parser.add_argument("--test")
    args = parser.parse_args()
    if args.train:
        dataset = load_squad(args.train, args.val, args.test)
    else:
        cache = os.environ.get("ATTENTUNE_CACHE", str(Path.home() / ".cache" / "attentune"))
        dataset = load_squad_synth(cache)
    scores = baseline_scores(dataset.val, dataset.test)
    print(json.dumps({"dataset": dataset.name, "test_questions": len(dataset.test), **scores}, indent=2))


if __name__ == "__main__":
    main()
