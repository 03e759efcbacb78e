"""select_features.py end to end on a tiny checkpoint: attention scores, retrained selections, resumable, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from conftest import REPO


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_selections_are_retrained_compared_and_resumed(tmp_path):
    run = tmp_path / "run"
    assert cli("src/train.py", "experiment=tiny", f"hydra.run.dir={run}").returncode == 0
    out = tmp_path / "fs"
    args = ["src/select_features.py", f"ckpt_path={run / 'checkpoints' / 'best.ckpt'}", "keep=[0.5,1.0]",
            "methods=[attention,frequency]", "seeds=1", "score_examples=200", f"hydra.run.dir={out}"]  # fmt: skip
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads((out / "token_scores.json").read_text())
    assert scores and all(v >= 0 for v in scores.values()) and "[CLS]" not in scores
    rows = json.loads((out / "features.json").read_text())
    assert sorted((r["method"], r["keep"]) for r in rows) == [("all", 1.0), ("attention", 0.5), ("frequency", 0.5)]
    for r in rows:
        tok = Tokenizer.from_file(str(out / "runs" / f"{r['method']}_keep{r['keep']:g}_seed1" / "tokenizer.json"))
        assert r["vocab_size"] == tok.get_vocab_size() == (500 if r["keep"] == 1.0 else 4 + 248)
    attention = Tokenizer.from_file(str(out / "runs" / "attention_keep0.5_seed1" / "tokenizer.json")).get_vocab()
    top = max((t for t in scores if t in Tokenizer.from_file(str(run / "tokenizer.json")).get_vocab()), key=scores.get)
    assert top in attention  # the token the model attends to most is kept
    assert "| attention | 0.5 | 252 | 1 |" in (out / "features.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert proc.stdout.count("select_features: ") == 4  # one line per run, then the report
    trained = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoints/best.ckpt")}
    again = cli(*args)  # resumable: every run is read back, none retrained
    assert again.returncode == 0 and "test/acc" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in trained} == trained


def test_bad_input_is_one_line(tmp_path):
    proc = cli("src/select_features.py", "ckpt_path=nope.ckpt", "keep=[0,0.5]", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "error: keep: fractions of the vocabulary in (0, 1]" in proc.stderr
