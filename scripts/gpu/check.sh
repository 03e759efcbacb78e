#!/usr/bin/env bash
# GPU check (about 5 minutes, at most 8): on a machine with NVIDIA GPUs, from the repository root:
#   scripts/gpu/check.sh
# Installs the pinned packages (make setup; or set ATTENTUNE_PYTHON to a ready interpreter), then runs
#   1. a GPU training (train.py trainer=gpu),
#   2. a 2-trial search whose trials share one GPU (resources.gpu=0.5),
#   3. a DDP training on the GPUs present (trainer=ddp, nccl),
#   4. a DDP search trial on 2 GPUs (trial.workers=2 resources.gpu=1; skipped with one GPU: nccl runs one rank per GPU),
# and prints what each measured. Exits non-zero at the first step that fails, with its log's tail.
# Everything is written under $OUT (default /tmp/attentune-gpu). Ray runs on this machine only (loopback).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/attentune-gpu}
mkdir -p "$OUT"
if [ -z "${ATTENTUNE_PYTHON:-}" ]; then
  make setup >"$OUT/setup.log" 2>&1 || { tail -30 "$OUT/setup.log"; exit 1; }
  PY=.venv/bin/python
else
  PY=$ATTENTUNE_PYTHON
fi
export WANDB_MODE=offline HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
GPUS=$("$PY" -c 'import torch; assert torch.cuda.is_available(), "torch sees no CUDA device"; print(torch.cuda.device_count())')
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "|", torch.cuda.device_count(), "x", torch.cuda.get_device_name(0))'
NET=""
if unshare -rn true 2>/dev/null; then NET="unshare -rn"; fi  # Ray on loopback only where namespaces are allowed

step() {  # step NAME COMMAND...: run it, print its wall time, or its log's tail and fail
  local name=$1; shift
  local start=$SECONDS
  if ! $NET bash -c 'ip link set lo up 2>/dev/null; "$@"' _ "$@" >"$OUT/$name.log" 2>&1; then
    echo "FAILED: $name"; tail -40 "$OUT/$name.log"; exit 1
  fi
  echo "$name: $((SECONDS - start)) s"
}

COMMON=(data=mr logger=csv callbacks.rich_progress_bar=null)
step train "$PY" src/train.py "${COMMON[@]}" trainer=gpu trainer.max_epochs=2 hydra.run.dir="$OUT/train"
TRIALS=(model=mha searcher=random scheduler=fifo evaluate_default=false budget=null epochs=1 rounds_per_epoch=1)
step share "$PY" src/tune.py "${COMMON[@]}" "${TRIALS[@]}" num_samples=2 max_concurrent=2 resources.gpu=0.5 \
  hydra.run.dir="$OUT/share"
step ddp "$PY" src/train.py "${COMMON[@]}" trainer=ddp trainer.devices="$GPUS" trainer.max_epochs=2 \
  hydra.run.dir="$OUT/ddp"
if [ "$GPUS" -ge 2 ]; then
  step ddp_trial "$PY" src/tune.py "${COMMON[@]}" "${TRIALS[@]}" num_samples=1 trial.workers=2 resources.gpu=1 \
    hydra.run.dir="$OUT/ddp_trial"
else
  echo "ddp_trial: skipped (1 GPU; a DDP trial needs a GPU per worker)"
fi

"$PY" - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

import pandas as pd

out = Path(sys.argv[1])
for name in ("train", "ddp"):
    m = json.loads((out / name / "metrics.json").read_text())
    print(f"{name}: device {m['device']}, processes {m['processes']}, test/acc {m['test/acc']:.4f}, "
          f"{m['train_seconds']:.1f} s training, {m["train_tokens"] * m["epochs"] / m["train_seconds"]:.0f} tokens/s, "
          f"latency b1 {m['latency_ms/b1']:.2f} ms")
for name in ("share", "ddp_trial"):
    if not (out / name / "trials.csv").exists():
        continue
    t = pd.read_csv(out / name / "trials.csv")
    cols = ["trial_id", "status", "device", "gpu_ids", "processes", "val/acc", "test/acc", "train_seconds"]
    print(f"{name}:\n{t[[c for c in cols if c in t]].to_string(index=False)}")
    if name == "share":  # side by side on one GPU: both started before either finished
        started = sorted(Path(d).name.rsplit("_", 2)[-2:] for d in t["trial_dir"])
        print(f"share: {len(t)} trials on GPU ids {sorted(set(t['gpu_ids'].astype(str)))}, started at {started}")
EOF
