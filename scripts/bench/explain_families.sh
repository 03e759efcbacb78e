#!/usr/bin/env bash
# Faithfulness of every explanation method, per family, on mr and trec (issue 22): trains each family's default
# configuration (skipped when its checkpoint exists: resumable), then `explain.py n=500` on its test split, and
# prints one line per method: comprehensiveness / sufficiency AOPC (deletion) with 95% intervals, Kendall tau with
# leave-one-out, seconds.   Usage: scripts/bench/explain_families.sh [out_dir] [families] [datasets]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-outputs/bench/explain}
families=${2:-"mha bow cnn bilstm minilm"}
datasets=${3:-"mr trec"}
for data in $datasets; do
  for family in $families; do
    run=$out/$family-$data
    if [ ! -f "$run/train/checkpoints/best.ckpt" ] || [ ! -f "$run/train/metrics.json" ]; then
      .venv/bin/python src/train.py model="$family" data="$data" hydra.run.dir="$run/train" callbacks.rich_progress_bar=null \
        >"$run.train.log" 2>&1 || { echo "$family $data: training failed (see $run.train.log)"; continue; }
    fi
    if [ ! -f "$run/explain/explanation.json" ]; then
      .venv/bin/python src/explain.py ckpt_path="$run/train/checkpoints/best.ckpt" data="$data" n=500 \
        hydra.run.dir="$run/explain" >"$run.explain.log" 2>&1 || { echo "$family $data: explain failed (see $run.explain.log)"; continue; }
    fi
    .venv/bin/python - "$run" "$family" "$data" <<'PY'
import json, sys
from pathlib import Path
run, family, data = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
m = json.loads((run / "train" / "metrics.json").read_text())
e = json.loads((run / "explain" / "explanation.json").read_text())
ig = e.get("ig", {})
conv = sum(r < 0.05 for r in ig.get("relative_delta", [])) / max(1, len(ig.get("relative_delta", [])))
print(f"{family} {data}: test acc {100 * m['test/acc']:.1f}, {e['examples']} examples, IG converged on {conv:.1%} "
      f"(steps {sorted(set(ig.get('steps', [])))}); seconds: total {e['seconds'].get('total', '?')}, faithfulness "
      f"{e['seconds'].get('faithfulness', 0):.1f}, heads {e['seconds'].get('heads', 0):.1f}")
ci = lambda v: f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" if v else "-"
for r in e["faithfulness"]:
    print(f"  {r['method']:<22} comp {ci(r['comprehensiveness/deletion'])}  suff {ci(r['sufficiency/deletion'])}  "
          f"comp-unk {ci(r['comprehensiveness/unk'])}  tau-loo {ci(r.get('kendall_loo'))}  {r['seconds']:.1f}s")
PY
  done
done
