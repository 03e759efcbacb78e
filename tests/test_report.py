"""report.py: a run's report.html from its own files; bad input is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO


def report(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "src/report.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_a_runs_report_holds_its_metrics_learning_curve_and_config(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "src/train.py", "experiment=tiny", "trainer.max_epochs=2", f"hydra.run.dir={run}"]
    assert subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=300).returncode == 0
    proc = report(f"run_dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    page = (run / "report.html").read_text()
    assert "test/acc" in page and "Learning curve" in page and "data:image/png;base64," in page
    assert "num_heads" in page  # the configuration
    assert not (run / ".hydra" / "report").exists() and not list(run.glob("report.log"))


def test_bad_input(tmp_path):
    for args, message in (
        ([], "give sweep_dir=<a tune.py -m sweep> or run_dir=<a train.py run>"),
        ([f"sweep_dir={tmp_path}"], "has no leaderboard.md"),
        ([f"run_dir={tmp_path}"], "has no metrics.json"),
    ):
        proc = report(*args)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
