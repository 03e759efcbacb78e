"""DDP trials (``trial.workers=2``) through the real ``src/tune.py``: Ray Train inside Ray Tune, two gloo ranks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_tune import TUNE_TINY, kill_trial_workers, tune_cli, user_search_space

from conftest import REPO, TUNE_QA

pytestmark = [pytest.mark.cluster, pytest.mark.ray]

# Rounds of 40 batches per rank, validated on the whole validation split: one round separates a learning rate
# that learns (bow on mr: about 0.59 after a round) from one that cannot (0.50, chance).
DDP = [
    "model=bow",
    "tokenizer.vocab_size=4000",
    "max_length=64",
    "trial.workers=2",
    "logger=csv",
    "trainer.limit_train_batches=40",
    "trainer.limit_val_batches=1.0",
]


def registered_checkpoints(study: Path) -> list[Path]:
    """The trials whose Ray Train run has a checkpoint in its snapshot (what a restarted run restores from)."""
    found = []
    for snapshot in study.glob("*/ddp/checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result")
        except json.JSONDecodeError:  # being written
            continue
        if latest and (snapshot.parent / latest["checkpoint_dir_name"] / "resume.ckpt").exists():
            found.append(snapshot.parents[1])
    return found


def rank_records(trial_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((trial_dir / "ranks").glob("rank*.json"))]


def assert_both_ranks_trained_the_trial(trial: pd.Series) -> None:
    ranks = rank_records(Path(trial["trial_dir"]))
    assert [r["rank"] for r in ranks] == [0, 1] and {r["world_size"] for r in ranks} == {2}
    assert ranks[0]["pid"] != ranks[1]["pid"]  # two processes...
    assert ranks[0]["config"] == ranks[1]["config"]  # ...training one configuration: the trial's
    for key, value in json.loads(trial["params"]).items():
        node = ranks[0]["config"]
        for part in key.split("."):
            node = node[part]
        assert node == pytest.approx(value), key


def test_ddp_trials_train_one_configuration_on_both_ranks_and_asha_stops_the_poor_one(tmp_path):
    run = tmp_path / "run"
    proc = tune_cli(
        *DDP,
        "searcher=grid",
        "num_samples=1",  # the grid once
        "scheduler=asha",
        "scheduler.reduction_factor=2",
        "trainer.max_epochs=3",
        *user_search_space(tmp_path, "space:\n  optimizer.lr: {grid: [1.0e-2, 1.0e-7]}\n"),
        f"hydra.run.dir={run}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(run / "trials.csv").set_index("param:optimizer.lr")
    assert len(trials) == 2
    assert trials.loc[1.0e-2, "status"] == "TERMINATED" and trials.loc[1.0e-2, "processes"] == 2
    assert trials.loc[1.0e-2, "val/acc"] > 0.55
    # the grid's order: the poor one runs second and ASHA stops it at its first round, below the first's
    assert trials.loc[1.0e-7, "status"] == "STOPPED"
    assert not (Path(trials.loc[1.0e-7, "trial_dir"]) / "metrics.json").exists()
    for _, trial in trials.reset_index().iterrows():
        assert_both_ranks_trained_the_trial(trial)
    study = json.loads((run / "study.json").read_text())
    assert study["resources"] == {"cpu": 1.0, "gpu": 0.0, "workers": 2}


def test_an_interrupted_ddp_trial_resumes_from_its_ray_train_checkpoint(tmp_path):
    first = tmp_path / "first"
    args = [*DDP, "searcher=random", "scheduler=fifo", "num_samples=2", "trainer.max_epochs=6"]
    driver = subprocess.Popen(
        [sys.executable, "src/tune.py", *TUNE_TINY, *args, f"hydra.run.dir={first}"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while not registered_checkpoints(first / "study"):  # Ray Train has recorded one (not just written it)
            assert time.time() < deadline and driver.poll() is None, "search ended before it could be killed"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:  # what the killed driver started (its process group), by group id, then its workers by PID
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_trial_workers(first / "study")
    (interrupted,) = registered_checkpoints(first / "study")
    assert not (interrupted / "metrics.json").exists()

    resumed = tmp_path / "resumed"
    proc = tune_cli(*args, f"resume={first}", f"hydra.run.dir={resumed}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(resumed / "trials.csv")
    assert len(trials) == 2 and (trials["status"] == "TERMINATED").all()
    ranks = rank_records(interrupted)
    # both ranks of the restarted trial continued from the Train run's checkpoint, and trained to the end
    assert all(r["resumed_from"] and Path(r["resumed_from"]).parent == interrupted / "ddp" for r in ranks)
    assert json.loads((interrupted / "metrics.json").read_text())["epochs"] == 6
    for _, trial in trials.iterrows():
        assert_both_ranks_trained_the_trial(trial)


def test_schedulers_that_need_tune_checkpoints_are_refused_for_ddp_trials(tmp_path):
    for scheduler in ("pbt", "hyperband"):
        proc = tune_cli(*DDP, f"scheduler={scheduler}", f"hydra.run.dir={tmp_path / scheduler}")
        assert proc.returncode == 2, proc.stderr[-2000:]
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
        assert "trial.workers=2" in line and "use asha or fifo" in line


def test_a_qa_ddp_trial_trains_on_both_ranks_and_reports_f1(tmp_path):
    sweep = tmp_path / "sweep"
    single = [o for o in TUNE_QA if not o.startswith(("num_samples", "max_concurrent"))]
    args = ["src/tune.py", "-m", *single, "num_samples=1", "max_concurrent=1", "trial.workers=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [sys.executable, *args, f"hydra.sweep.dir={sweep}"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (trial,) = [row for _, row in pd.read_csv(sweep / "mha_squad_synth" / "trials.csv").iterrows()]
    assert trial["status"] == "TERMINATED" and trial["processes"] == 2
    assert 0 <= trial["val/f1"] <= 1 and 0 <= trial["test/f1"] <= 1  # validated on both ranks' shards, tested
    assert_both_ranks_trained_the_trial(trial)
