"""What a user sees from a command is ours: no library noise, numbers for people, the next commands to run."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import REPO

OURS = (
    re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]\[attentune\.[\w.]+\]\[(INFO|WARNING)\] - "),  # our logging
    re.compile(r"  \S"),  # the indented lines of our tables and of the commands to run next
)


def test_a_training_run_prints_only_our_lines_its_metrics_as_a_table_and_what_to_run_next(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "src/train.py", "experiment=tiny", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = (proc.stdout + proc.stderr).splitlines()
    noise = [line for line in lines if not any(p.match(line) for p in OURS)]
    assert noise == [], "library noise in a training run's output"
    # the metrics: 4 significant digits, counts with thousands separators
    table = dict(line.split(None, 1) for line in lines if line.startswith("  ") and "python src/" not in line)
    assert re.fullmatch(r"0\.\d{1,4}|1", table["test/acc"]) and re.fullmatch(r"\d{1,3}(,\d{3})*", table["num_params"])
    ckpt = tmp_path / "checkpoints" / "best.ckpt"
    assert f"  python src/evaluate.py ckpt_path={ckpt}" in proc.stdout + proc.stderr


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_help_names_each_commands_own_knobs_and_groups():
    train, tune = run_cli("src/train.py", "--help"), run_cli("src/tune.py", "--help")
    assert train.returncode == tune.returncode == 0
    assert "heads, layers, d_model" in train.stdout and "model:      bilstm, bow, cnn, mha, minilm" in train.stdout
    assert "searcher" not in train.stdout and "scheduler" not in train.stdout  # tune-only groups
    assert "budget " in tune.stdout and "searcher:   bohb, grid, optuna, random" in tune.stdout


def test_a_config_mistake_is_answered_before_lightning_ray_or_transformers_are_imported():
    # -X importtime lists every module the process imported: the mistake must be found before the heavy ones
    for script in ("src/train.py", "src/tune.py"):
        proc = run_cli("-X", "importtime", script, "heads=7", "d_model=256")
        assert proc.returncode == 2
        errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
        assert errors == ["error: model: d_model=256 is not divisible by num_heads=7"]
        imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
        assert "torch" in imported and not imported & {"lightning", "ray", "transformers", "wandb"}, script
