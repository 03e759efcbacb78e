#!/usr/bin/env bash
# Test accuracy and train time of the default config on every built-in dataset.
# Usage: scripts/bench/datasets.sh [extra overrides...]   (prints one line per dataset)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=outputs/bench/datasets/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
for data in mr trec sms_spam bbc_news; do
  .venv/bin/python src/train.py data="$data" hydra.run.dir="$out/$data" callbacks.rich_progress_bar=null "$@" \
    >"$out.$data.log" 2>&1 || { echo "$data: failed (see $out.$data.log)"; continue; }
  .venv/bin/python - "$out/$data/metrics.json" "$data" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:>9}: test/acc {100 * m['test/acc']:.1f}  f1 {100 * m['test/f1_macro']:.1f}  "
      f"val/acc_best {100 * m['val/acc_best']:.1f}  epochs {m['epochs']}  train {m['train_seconds']:.0f}s  "
      f"params {m['num_params']:,}")
PY
done
