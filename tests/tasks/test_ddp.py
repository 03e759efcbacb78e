"""DDP training through the real entry point: two CPU processes (gloo) on loopback, one run directory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
from test_qa_train import FAMILY

from conftest import QA_TINY, REPO, TINY

pytestmark = pytest.mark.cluster
RICH = "lightning.pytorch.callbacks.RichProgressBar"


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_ddp_training_writes_one_run_that_rank_zero_logged_and_evaluate_reproduces(tmp_path):
    run = tmp_path / "run"
    # whole splits (not tiny's few batches): the steps show each rank trained on half the data, and
    # evaluate.py scores the whole test split
    whole = [f"trainer.limit_{split}_batches=1.0" for split in ("train", "val", "test")]
    proc = cli("src/train.py", *TINY, "trainer=ddp", "trainer.devices=2", *whole, f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the other rank wrote no run of its own
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["best.ckpt"]
    assert (run / "config.yaml").is_file() and (run / "tokenizer.json").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["device"] == "cpu"

    logged = pd.read_csv(run / "csv" / "metrics.csv")
    steps = logged["step"].max() + 1
    train_size = 8452  # mr's training split
    assert steps == math.ceil(math.ceil(train_size / 2) / 16)  # batch 16 per rank, a half of the data each
    (test_acc,) = logged["test/acc"].dropna()  # logged once, by rank 0's single-process test
    assert metrics["test/acc"] == pytest.approx(test_acc)
    assert metrics["val/acc_best"] == pytest.approx(logged["val/acc"].max())

    ev = cli("src/evaluate.py", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", f"hydra.run.dir={tmp_path / 'ev'}")
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["test/acc"] == pytest.approx(metrics["test/acc"])


def test_ddp_under_a_multirun_sweep_is_a_one_line_error(tmp_path):
    proc = cli(
        "src/train.py",
        "-m",
        *TINY,
        "trainer=ddp",
        "trainer.devices=2",
        "seed=1,2",
        f"hydra.sweep.dir={tmp_path}",
        timeout=120,
    )
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: trainer.devices=2 with -m:")
    assert not list(tmp_path.glob("**/metrics.json"))


def test_ddp_without_early_stopping_and_with_a_progress_bar_does_not_hang(tmp_path):
    # rank 0's progress bar reads the epoch's synced metrics; with no early stopping to read them on every rank
    # first, the ranks' collectives used to cross and the run hung after its first epoch
    run = tmp_path / "run"
    bar = ["trainer.enable_progress_bar=true", f"callbacks.rich_progress_bar={{_target_:{RICH}}}"]
    args = [*TINY, "trainer=ddp", "trainer.devices=2", "trainer.max_epochs=3", "callbacks.early_stopping=null", *bar]
    proc = cli("src/train.py", *args, f"hydra.run.dir={run}", timeout=150)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["processes"] == 2 and (run / "checkpoints" / "best.ckpt").is_file()


def test_qa_ddp_ranks_validate_shards_and_score_the_whole_split_as_one_process_does(tmp_path):
    run = tmp_path / "run"
    args = [o for o in QA_TINY if "limit_val_batches" not in o] + FAMILY["mha"]  # the whole validation split
    proc = cli("src/train.py", *args, "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run}", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["processes"] == 2
    # each rank decoded every rank's windows: the val F1 logged in DDP is the best checkpoint's F1 on the whole
    # validation split, as one process scores it (with the no-answer threshold that validation chose)
    ckpt = run / "checkpoints" / "best.ckpt"
    ev = cli("src/evaluate.py", f"ckpt_path={ckpt}", "split=val", f"hydra.run.dir={tmp_path / 'ev'}", timeout=300)
    assert ev.returncode == 0, ev.stderr[-2000:]
    scored = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["val/f1_best"] == pytest.approx(scored["val/f1"], abs=1e-6)
