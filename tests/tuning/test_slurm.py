"""Studies as SLURM jobs, against real daemons (munge, mariadb, slurmdbd, slurmctld, two slurmd) on loopback.

`make test-cluster` installs SLURM (as root) and runs this inside a loopback-only network namespace; the
daemons are started here from scripts/ci/slurm_up.sh and stopped by their PID files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, TINY

pytestmark = pytest.mark.cluster
SCRIPTS = REPO / "scripts" / "ci"


def _sh(*cmd: str, env: dict, timeout: float = 30) -> str:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True).stdout


@pytest.fixture(scope="module")
def slurm():
    if os.geteuid() != 0 or shutil.which("slurmctld") is None:
        pytest.skip("needs root and SLURM installed (make test-cluster installs it: scripts/ci/slurm_up.sh --install)")
    if Path("/proc/self/uid_map").read_text().split()[:3] != ["0", "0", "4294967295"]:
        pytest.skip("munge cannot switch users inside a user namespace: run as real root in `unshare -n`")
    # not under pytest's tmp dir (mode 700): the munge and mysql users must reach their files
    state = Path(tempfile.mkdtemp(prefix="attentune-slurm-"))
    state.chmod(0o755)
    env = {**os.environ, "SLURM_NODES": "n1 n2", "SLURM_NODE_CPUS": "1", "SLURM_INSTALL": "0"}
    up = subprocess.run(
        [str(SCRIPTS / "slurm_up.sh"), str(state)], env=env, capture_output=True, text=True, timeout=180
    )
    try:
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        yield {**os.environ, "SLURM_CONF": str(state / "slurm.conf")}
    finally:
        subprocess.run([str(SCRIPTS / "slurm_down.sh"), str(state)], capture_output=True, timeout=120)
        shutil.rmtree(state, ignore_errors=True)


def _search(root: Path, name: str, space: str) -> None:
    (root / "conf" / "search").mkdir(parents=True, exist_ok=True)
    (root / "conf" / "search" / f"{name}.yaml").write_text(f"num_samples: 2\nspace:\n{space}")


def test_studies_as_slurm_jobs_report_failed_and_cancelled_jobs_and_still_rank_the_rest(slurm, tmp_path):
    """...and the leaderboard over the finished sweep, again, as its own SLURM job (with a seed re-run)."""
    _search(tmp_path, "ok", "  optimizer.lr: {choice: [1.0e-3, 3.0e-3]}\n")
    _search(tmp_path, "typo", "  optimizer.lrr: {choice: [1.0e-3]}\n")  # a user error inside the job: exit 2
    # a study that would train for minutes: cancelled below with scancel, as a user or SLURM would end it
    _search(tmp_path, "long", "  trainer.max_epochs: {choice: [2000]}\n  callbacks.early_stopping: {choice: [null]}\n")
    sweep = tmp_path / "sweep"
    args = [
        sys.executable, "src/tune.py", "-m", *TINY, "model=bow", "search=ok,typo,long",
        f"hydra.searchpath=[file://{tmp_path}/conf]", "study_name=${hydra:runtime.choices.search}",
        "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10", "trainer.max_epochs=2", "trainer.limit_train_batches=4",
        "evaluate_default=false", "budget=null", "searcher=random", "scheduler=fifo", "logger=csv",
        "selection.seeds=[]", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = {**slurm, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    driver = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the long study's job: wait until its trial trains (its first round's result), then cancel it
        while not list((sweep / "long" / "study").glob("*/result.json")):
            assert driver.poll() is None and time.monotonic() - start < 300, driver.communicate()[1][-3000:]
            time.sleep(1)
        queue = _sh("squeue", "-h", "-o", "%i %T", env=slurm)
        (job_id,) = [ln.split()[0] for ln in queue.splitlines() if ln.split()[0].endswith("_2")]  # job num 2: long
        _sh("scancel", job_id, env=slurm)
        _, stderr = driver.communicate(timeout=240)  # bounded: the driver polls sacct, it does not hang
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 1, stderr[-3000:]
    (error,) = [ln for ln in stderr.splitlines() if ln.startswith("error: 2 studies failed")]
    assert "typo: job" in error and "error: search.space.optimizer.lrr" in error
    assert "long: job" in error and "CANCELLED" in error
    board = pd.read_csv(sweep / "leaderboard.csv").set_index("study")
    assert board.loc["ok", "row"] == "best" and 0 < board.loc["ok", "test/acc"] <= 1  # it finished, it is ranked
    assert board.loc["typo", "row"] == "failed" and board.loc["long", "row"] == "failed"
    assert (board["row"] == "reference").sum() == 1  # the reference, from the study that ran
    # every study ran as a SLURM job of one array, and accounting saw how each ended
    states = _sh("sacct", "-X", "-n", "-P", "--format=JobID,State", env=slurm)
    array = job_id.split("_")[0]
    ended = dict(ln.split("|")[:2] for ln in states.splitlines() if ln.startswith(array + "_"))
    assert ended[f"{array}_0"] == "COMPLETED" and ended[f"{array}_2"].startswith("CANCELLED")

    (sweep / "leaderboard.csv").unlink()
    args = ["sbatch", "--parsable", "--wait", "--cpus-per-task=1", "--mem=2G", f"--output={tmp_path}/board.out",
            "scripts/slurm/leaderboard.sbatch", f"sweep_dir={sweep}", "selection.seeds=[7]",
            f"hydra.run.dir={tmp_path}/board"]  # fmt: skip
    proc = subprocess.run(args, cwd=REPO, env={**env, "ATTENTUNE_PYTHON": sys.executable}, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    out = (tmp_path / "board.out").read_text() if (tmp_path / "board.out").exists() else ""
    assert proc.returncode == 0, proc.stderr[-2000:] + out[-3000:]
    board = pd.read_csv(sweep / "leaderboard.csv").set_index("study")
    assert board.loc["ok", "row"] == "best" and board.loc["typo", "row"] == "failed"
    (rerun,) = json.loads((sweep / "summary.json").read_text())["seed_reruns"]  # the job re-ran the winner...
    assert rerun["study"] == "ok" and rerun["seeds"] == 1  # ...with seed 7


def test_tune_sbatch_starts_ray_across_the_allocation_and_places_trials_on_both_nodes(slurm, tmp_path):
    run = tmp_path / "study"
    env = {
        **slurm,
        "OMP_NUM_THREADS": "1",
        "ATTENTUNE_PYTHON": sys.executable,
        # both test nodes are this host, on loopback: the nodes' addresses cannot come from `hostname`
        "ATTENTUNE_RAY_HEAD_IP": "127.0.0.1",
        "ATTENTUNE_RAY_NODE_IP": "127.0.0.1",
        "ATTENTUNE_RAY_ARGS": "--object-store-memory=200000000",
    }
    args = ["sbatch", "--parsable", "--wait", "--nodes=2", "--cpus-per-task=1", "--mem=2G",
            f"--output={tmp_path}/job.out", "scripts/slurm/tune.sbatch", *TINY, "model=bow", "num_samples=4",
            "max_concurrent=2", "searcher=random", "scheduler=fifo", "evaluate_default=false", "budget=null",
            "logger=csv", "trainer.max_epochs=2", "trainer.limit_train_batches=200", "reuse_actors=false",
            f"hydra.run.dir={run}"]  # fmt: skip
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = (tmp_path / "job.out").read_text() if (tmp_path / "job.out").exists() else ""
    assert proc.returncode == 0, proc.stderr[-2000:] + out[-3000:]
    assert "ray head on n1 (127.0.0.1:" in out and "2 node(s), 1 CPU(s)" in out
    trials = pd.read_csv(run / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "TERMINATED").all()
    # one CPU per node: while one trial trains on a node, the next one can only start on the other
    assert trials["node_id"].nunique() == 2, trials[["trial_id", "node_id", "time_total_s"]]
    # the job stopped its Ray nodes (by their PIDs): no process of its Ray temp dirs is left
    job = proc.stdout.strip().split(";")[0]
    end = time.monotonic() + 30
    while (left := subprocess.run(["pgrep", "-af", f"/tmp/ray-{job}-"], capture_output=True, text=True).stdout).strip():
        assert time.monotonic() < end, left
        time.sleep(1)
