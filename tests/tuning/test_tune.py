"""Searches through the real ``src/tune.py`` on real Ray (run inside a loopback-only namespace by `make test`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from conftest import REPO, TINY, wandb_run

pytestmark = pytest.mark.ray

# Tiny trials: two epochs of four batches each.
TUNE_TINY = TINY + [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=4",  # tune.yaml's rounds (a third of the data each) would replace tiny's 4
    "ray.num_cpus=2",
    "max_concurrent=2",
    "evaluate_default=false",  # tiny sizes (vocab 500, d_model 16) are not points of the real search spaces
    "budget=null",  # no probe before each tiny study; the budget's own tests set one
]


def tune_cli(*overrides: str, timeout: int = 400, **popen) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [
            sys.executable,
            "src/tune.py",
            *[o for o in overrides if o.startswith("-")],
            *TUNE_TINY,
            *[o for o in overrides if not o.startswith("-")],
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def entry_point(script: str, *overrides: str) -> subprocess.CompletedProcess:
    """``src/<script>`` with ``overrides``, as a user runs it after a sweep."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, f"src/{script}", *overrides]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def kill_trial_workers(study: Path, timeout_s: float = 30.0) -> None:
    """SIGKILL the Ray workers that ran the study's trials (and a DDP trial's ranks), by the PIDs their results
    recorded, each checked to still be a Ray worker: they have process groups of their own, so they outlive a
    killed driver (and its group) until they notice their raylet is gone."""
    pids = set()
    for results in study.glob("*/result.json"):
        pids |= {json.loads(line)["pid"] for line in results.read_text().splitlines() if line.strip()}
    pids |= {json.loads(rank.read_text())["pid"] for rank in study.glob("*/ranks/rank*.json")}
    for pid in pids:
        try:
            if b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a PID reused by something else
                os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError):
            pass
    end = time.time() + timeout_s
    while time.time() < end and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)


def trial_configs(run_dir: Path) -> list:
    return [OmegaConf.load(p) for p in sorted((run_dir / "study").glob("*/config.yaml"))]


def search(run_dir: Path, *overrides: str) -> pd.DataFrame:
    """A study through the real tune.py (CSV logging only) that must succeed; its trials.csv."""
    proc = tune_cli(*overrides, "logger=csv", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return pd.read_csv(run_dir / "trials.csv")


@pytest.mark.slow  # about 40 s of trials: make test-slow (keeps make test under 10 minutes)
def test_search_samples_valid_architectures_and_records_every_trial(tmp_path):
    proc = tune_cli("model=mha", "num_samples=4", "searcher=optuna", "scheduler=asha", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert len(trials) == 4 and set(trials["status"]) <= {"TERMINATED", "STOPPED"}
    assert trials["val/acc"].notna().all()
    assert trials["val/acc"].is_monotonic_decreasing  # sorted best first
    assert (trials.loc[trials["status"] == "TERMINATED", "threads"] == 1).all()  # resources.cpu=1: one thread
    configs = trial_configs(tmp_path)
    assert len(configs) == 4
    for cfg in configs:  # constraints hold by construction, and top-level values reach the model
        assert cfg.model.d_model % cfg.model.num_heads == 0
        assert cfg.model.d_model == cfg.heads * cfg.head_dim
        assert cfg.model.max_length == cfg.max_length
    assert len({(c.model.num_heads, c.model.d_model, c.optimizer.lr) for c in configs}) == 4
    finished = trials[trials["status"] == "TERMINATED"]
    assert finished[["test/acc", "num_params", "train_seconds", "latency_ms/b1", "latency_ms/b64"]].notna().all().all()
    summary = json.loads((tmp_path / "study.json").read_text())
    assert summary["trials"] == 4 and summary["failed"] == 0
    for trial_dir in trials["trial_dir"].map(Path):  # CSV and an offline W&B run per trial, stopped ones too
        assert (trial_dir / "csv" / "metrics.csv").is_file()
    # read back with W&B's own reader: named after its trial, grouped by its study's directory, its study's job
    run = wandb_run(Path(trials["trial_dir"].iloc[0]))
    assert (run["name"], run["job_type"]) == (Path(trials["trial_dir"].iloc[0]).name, "mha_mr")
    assert run["group"] == "/".join(tmp_path.resolve().parts[-2:]) and run["config"]["family"] == "mha"
    assert run["config"]["model.num_heads"] == OmegaConf.load(Path(trials["trial_dir"].iloc[0]) / "config.yaml").heads
    # trial directories are <study>_<trial id>: a path a user can paste into ckpt_path=, as the study's last
    # lines suggest for its best checkpoint
    assert all(re.fullmatch(r"mha_mr_[0-9a-f]+(_[0-9]+)?", Path(d).name) for d in trials["trial_dir"])
    kept = [Path(d) / "checkpoints" / "best.ckpt" for d in trials["trial_dir"]]
    best = next(c for c in kept if c.exists())  # trials.csv is sorted best first
    assert f"best checkpoint of mha_mr: {best}" in proc.stdout
    assert f"python src/evaluate.py ckpt_path={best}" in proc.stdout
    # one line per trial with its score, not Ray's config and result tables per trial
    for name, score in zip(trials["trial_dir"].map(lambda d: Path(d).name), trials["val/acc"], strict=True):
        (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{name} ")]
        assert f"val/acc {score:.4g}" in line
    assert "Trial status" not in proc.stdout + proc.stderr and "│" not in proc.stdout
    ev = entry_point("evaluate.py", f"ckpt_path={best}", f"hydra.run.dir={tmp_path}/eval")
    assert ev.returncode == 0, ev.stderr[-2000:]


def user_search_space(tmp_path: Path, text: str) -> list[str]:
    """Overrides selecting ``search=user``: a search config in a user directory on Hydra's search path."""
    (tmp_path / "conf" / "search").mkdir(parents=True)
    (tmp_path / "conf" / "search" / "user.yaml").write_text(text)
    return [f"hydra.searchpath=[file://{tmp_path}/conf]", "search=user"]


def test_failed_trials_are_recorded_and_the_search_finishes(tmp_path):
    # num_layers=0 is rejected inside the trial by the model's config validation.
    proc = tune_cli(
        "model=mha",
        "searcher=random",
        "scheduler=fifo",
        "num_samples=1",
        *user_search_space(tmp_path, "space:\n  layers: {grid: [1, 0]}\n"),
        f"hydra.run.dir={tmp_path}/run",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "run" / "trials.csv").set_index("param:layers")
    assert trials.loc[1, "status"] == "TERMINATED"
    assert trials.loc[0, "status"] == "ERROR" and "num_layers" in trials.loc[0, "error"]
    assert json.loads((tmp_path / "run" / "study.json").read_text())["failed"] == 1
    failed = Path(trials.loc[0, "trial_dir"])  # its line names the error and where its traceback is
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{failed.name} ")]
    assert "failed: attentune.errors.ConfigError: model: num_layers" in line and str(failed / "error.txt") in line
    assert (failed / "error.txt").is_file()


def test_typo_in_search_space_is_a_config_error(tmp_path):
    overrides = user_search_space(tmp_path, "space:\n  optimizer.lrr: {choice: [0.1]}\n")
    proc = tune_cli("model=mha", *overrides, f"hydra.run.dir={tmp_path}/run")
    assert proc.returncode == 2 and "error: search.space.optimizer.lrr" in proc.stderr


def test_a_search_of_no_samples_is_a_config_error(tmp_path):
    proc = tune_cli("model=bow", "num_samples=0", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "error: num_samples=0: must be at least 1" in proc.stderr


@pytest.mark.slow  # CI's slow tier (make test-slow): kills and restores a study, about a minute
def test_resume_after_kill_9_keeps_finished_trials(tmp_path):
    first = tmp_path / "first"
    args = [
        "model=bow",
        "searcher=optuna",
        "scheduler=fifo",
        "num_samples=6",
        "max_concurrent=1",
        "trainer.max_epochs=3",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen(
        [sys.executable, "src/tune.py", *TUNE_TINY, *args, f"hydra.run.dir={first}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while len(list((first / "study").glob("*/metrics.json"))) < 2:
            assert time.time() < deadline and driver.poll() is None, "search ended before it could be killed"
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        # Stop what the killed driver started (its own process group), by group id — nothing broader.
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_trial_workers(first / "study")
    # only now: a worker mid-trial at the kill could still have finished its trial
    done_before = {p.parent.name for p in (first / "study").glob("*/metrics.json")}
    assert len(done_before) < 6
    # A new search into the interrupted one's directory would mix with it (and overwrite its tables): refused.
    proc = tune_cli(*args, f"hydra.run.dir={first}")
    assert proc.returncode == 2 and f"error: hydra.run.dir: {first} already holds a study" in proc.stderr
    assert {p.parent.name for p in (first / "study").glob("*/metrics.json")} == done_before
    resumed = tmp_path / "resumed"
    proc = tune_cli(*args, f"resume={first}", f"hydra.run.dir={resumed}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(resumed / "trials.csv")
    assert len(trials) == 6 and (trials["status"] == "TERMINATED").all()  # the interrupted one continued too
    assert done_before <= {Path(d).name for d in trials.loc[trials["status"] == "TERMINATED", "trial_dir"]}
    # Finished trials were not re-run: their metrics files are the ones written before the kill.
    for name in done_before:
        assert len(list((first / "study").glob(f"{name}/metrics.json"))) == 1


@pytest.mark.slow  # a whole budgeted sweep, about 80 s: make test-slow
def test_a_sweep_plans_first_ranks_the_reference_and_ensembles_and_its_winner_is_a_model_to_use(tmp_path):
    # a budget, as a new user runs it: planned first; whole validation and test splits, so that every trial keeps
    # its predictions and the sweep can ensemble them with the reference
    proc = tune_cli(
        "-m",
        "model=mha,bow",
        "data=trec",
        "budget=5m",
        "evaluate_default=true",  # experiment=tiny's own search settings hold its defaults
        "trainer.limit_val_batches=1.0",
        "trainer.limit_test_batches=1.0",
        "num_samples=2",
        "searcher=random",
        "scheduler=fifo",
        "selection.top_k=2",
        "selection.seeds=[1,2,1]",  # a repeated seed runs once
        f"hydra.sweep.dir={tmp_path}",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the plan speaks before anything trains, and keeps its promise: planned vs used per study
    assert proc.stdout.index("Budget plan") < proc.stdout.index("Winner:")
    plan = json.loads((tmp_path / "budget_plan.json").read_text())
    assert plan["reference"]["val"] > 0.5 and plan["reserve_s"] <= plan["selection_s"]
    assert all(s["actual_s"] is not None and s["observed"] is not None for s in plan["studies"])
    # the family that ran first scored far below the reference: the later one was weighed against that score
    assert min(s["win_chance"] for s in plan["studies"]) < 0.05
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    best = board[board["row"].str.startswith("best")]
    assert sorted(best["study"]) == ["bow_trec", "mha_trec"]
    assert (best["trials"] == 2).all() and board["test/acc"].notna().all()
    # the reference: TF-IDF + linear SVM on the same split, with its own val/test metrics and latency
    (reference,) = board[board["row"] == "reference"].itertuples()
    assert 0.7 < reference[board.columns.get_loc("test/acc") + 1] <= 1.0
    text = (tmp_path / "leaderboard.md").read_text()
    assert "mean ± 95% CI" in text and "mha_trec" in text and "Winner:" in text
    assert "Budget, planned / used seconds:" in text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["seed_reruns"]) == 2 and all(r["seeds"] == 2 for r in summary["seed_reruns"])
    reruns = [p.parent for p in (tmp_path / "seeds").glob("*/metrics.json")]
    assert len(reruns) == 4  # 2 configurations x 2 seeds
    assert all(len(list(run.glob("checkpoint_*"))) == 1 for run in reruns)  # disk bounded: 2 epochs, 1 kept
    for png in ("accuracy_vs_latency.png", "learning_curves.png"):
        assert (tmp_path / png).stat().st_size > 1000
    # report.html next to the leaderboard: its tables, the plan against what was used, both plots embedded
    page = (tmp_path / "report.html").read_text()
    assert "<table>" in page and "mha_trec" in page and "Budget: planned and used" in page
    assert page.count("data:image/png;base64,") == 2
    # W&B: the sweep's leaderboard run is in the group of its trials (and of its seed re-runs)
    group = "/".join(tmp_path.resolve().parts[-2:])
    sweep_run = wandb_run(tmp_path)
    assert (sweep_run["name"], sweep_run["group"], sweep_run["job_type"]) == ("leaderboard", group, "leaderboard")
    assert sweep_run["summary"]["winner/test/acc"] == pytest.approx(summary["winner_test"]["test/acc"])
    trial = wandb_run(next((tmp_path / "mha_trec" / "study").glob("mha_trec_*")))
    assert (trial["group"], trial["job_type"]) == (group, "mha_trec")
    # tiny models are far below TF-IDF on trec: the reference (alone, or in an ensemble) wins on validation, and
    # the winner is a model in best/ that evaluate.py and predict.py use like a checkpoint
    assert (tmp_path / "best" / "ensemble.json").exists() and not (tmp_path / "best" / "checkpoints").exists()
    spec = json.loads((tmp_path / "best" / "ensemble.json").read_text())
    assert "reference" in {m["name"] for m in spec["members"]}
    assert sum(m["weight"] for m in spec["members"]) == pytest.approx(1.0)
    assert summary["winner_test"]["test/acc"] > max(best["test/acc"])
    if summary["ensemble"] is not None:  # its row names its members and weights
        (row,) = board[board["row"] == "ensemble"].itertuples()
        assert row.note.startswith("members: ")
    ev = entry_point("evaluate.py", f"ckpt_path={tmp_path / 'best'}", f"hydra.run.dir={tmp_path}/eval")
    assert ev.returncode == 0, ev.stderr[-2000:]
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert scored["test/acc"] == pytest.approx(summary["winner_test"]["test/acc"], abs=1e-6)
    pred = entry_point("predict.py", f"ckpt_path={tmp_path / 'best'}", "text=What year did the war end?")
    assert pred.returncode == 0, pred.stderr[-2000:]
    (out,) = [json.loads(line) for line in pred.stdout.splitlines() if line.startswith("{")]
    assert out["pred"] in spec["label_names"]
    assert sum(out[f"prob_{label}"] for label in spec["label_names"]) == pytest.approx(1.0)


@pytest.mark.slow  # CI's slow tier (make test-slow)
def test_population_based_training_continues_trials_with_mutated_settings(tmp_path):
    trials = search(
        tmp_path,
        "model=mha",
        "searcher=random",
        "scheduler=pbt",
        "scheduler.perturbation_interval=1",
        "scheduler.quantile_fraction=0.5",
        "num_samples=4",
        "trainer.max_epochs=4",
    )
    assert len(trials) == 4 and (trials["status"] == "TERMINATED").all()
    assert trials[["val/acc", "test/acc"]].notna().all().all()  # also a trial exploited at its last epoch
    # Ray's PBT log, a JSON line per exploit: [trial tag, donor tag, epochs, donor epochs, old config, new config];
    # a tag starts with the trial's index, which Ray's trial id ends with (<study>_<prefix>_<index:05d>).
    exploits = [json.loads(line) for line in (tmp_path / "study" / "pbt_global.txt").read_text().splitlines()]
    assert exploits
    last = {int(tag.split("_")[0]): new_config for tag, _, _, _, _, new_config in exploits}
    by_index = {int(Path(d).name.rsplit("_", 1)[1]): Path(d) for d in trials["trial_dir"]}
    assert set(last) <= set(by_index)
    for index, new_config in last.items():  # the restarted run trained with the (last) mutated values
        config = by_index[index] / "config.yaml"
        assert OmegaConf.load(config).optimizer.lr == pytest.approx(new_config["optimizer.lr"])


@pytest.mark.slow  # CI's slow tier (make test-slow): pauses and resumes trials
@pytest.mark.parametrize("searcher,scheduler", [("random", "hyperband"), ("bohb", "bohb")])
def test_hyperband_pauses_trials_and_resumes_them_from_their_checkpoint(tmp_path, searcher, scheduler):
    # One trial at a time: the first trials of a bracket reach its rung before the last one, so they pause.
    # max_t 4, eta 2: trials 0-2 form a bracket without rungs, trials 3-5 one with a rung at epoch 2 that
    # keeps two of its three trials, so at least one paused trial always resumes (with eta 3 only one is
    # kept, and when that is the last to arrive nothing was ever paused and resumed).
    trials = search(
        tmp_path,
        "model=mha",
        f"searcher={searcher}",
        f"scheduler={scheduler}",
        "scheduler.reduction_factor=2",
        "num_samples=6",
        "max_concurrent=1",
        "resources.cpu=2",  # one trial at a time, on both CPUs
        "trainer.max_epochs=4",
    )
    assert len(trials) == 6 and (trials["status"] != "ERROR").all()
    finished = trials[trials["status"] == "TERMINATED"]
    assert len(finished) and finished["test/acc"].notna().all()  # trials that reach max_t finish and report
    assert (finished["threads"] == 2).all()  # a 2-CPU trial trains with 2 torch threads (OMP_NUM_THREADS=1)
    resumed = 0
    for trial_dir in trials["trial_dir"].map(Path):
        reports = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
        epochs = [r["epoch"] for r in reports if not r.get("final")]
        assert epochs == list(range(1, len(epochs) + 1))  # a resumed trial continues, never restarts
        resumed += any(r["iterations_since_restore"] < r["training_iteration"] for r in reports)
    assert resumed  # at least one trial was paused at a rung and continued from its checkpoint


@pytest.mark.slow  # the deadline test below ends a study by its budget too
def test_time_budget_ends_the_search_and_unstarted_trials_are_not_listed(tmp_path):
    # random search samples all 200 configurations up front; the budget leaves most of them pending (30 s: a
    # trial that has not validated once by the deadline gives up, and a fresh worker's first round takes ~10 s)
    trials = search(tmp_path, "model=bow", "searcher=random", "scheduler=fifo", "num_samples=200", "time_budget_s=30")
    assert 2 <= len(trials) < 200 and trials["val/acc"].notna().all()
    assert json.loads((tmp_path / "study.json").read_text())["trials"] == len(trials)


@pytest.mark.slow  # CI's slow tier (make test-slow): trials long enough to overlap
@pytest.mark.parametrize("gpu,batches,shared", [(0.5, 40, True), (1, 4, False)])
def test_trials_run_on_their_share_of_a_gpu(tmp_path, gpu, batches, shared):
    # Ray's GPUs are logical resources: with ray.num_gpus=1 it assigns GPU 0 on this CPU-only machine too,
    # and a trial whose GPU CUDA cannot see trains on the CPU. Half a GPU each puts both trials on GPU 0 at
    # once (long enough trials that they surely overlap); a whole one runs them one after the other.
    trials = search(
        tmp_path,
        "model=mha",
        "searcher=random",
        "scheduler=fifo",
        "num_samples=2",
        f"trainer.limit_train_batches={batches}",
        "ray.num_gpus=1",
        f"resources.gpu={gpu}",
    )
    assert (trials["status"] == "TERMINATED").all()
    assert (trials["gpu_ids"].astype(str) == "0").all()
    assert (trials["device"] == ("cuda:0" if torch.cuda.is_available() else "cpu")).all()
    # a run writes config.yaml when it starts and metrics.json when it ends
    runs = sorted(
        ((d / "config.yaml").stat().st_mtime, (d / "metrics.json").stat().st_mtime)
        for d in map(Path, trials["trial_dir"])
    )
    (_, first_end), (second_start, _) = runs
    assert (second_start < first_end) == shared


@pytest.mark.slow  # starts Ray several times (about 45 s): make test-slow
def test_gpu_requests_the_local_ray_cannot_meet_are_config_errors(tmp_path):
    proc = tune_cli("model=bow", "resources.gpu=2", f"hydra.run.dir={tmp_path}/two")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        "error: resources.gpu=2: a trial runs on at most one GPU"
    )
    proc = tune_cli("model=bow", "resources.gpu=-1", f"hydra.run.dir={tmp_path}/negative")
    assert (
        proc.returncode == 2 and "error: resources: cpu=1, gpu=-1: amounts per trial cannot be negative" in proc.stderr
    )
    proc = tune_cli("model=bow", "trainer=ddp", f"hydra.run.dir={tmp_path}/ddp")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        "error: trainer.devices=2, trainer.strategy=ddp: a trial trains in one process"
    )
    proc = tune_cli("model=bow", "trainer=gpu", f"hydra.run.dir={tmp_path}/zero")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: trainer.accelerator=gpu: set resources.gpu (e.g. 0.5 or 1) per trial"
    )
    # instead of Ray waiting for a GPU that never comes (ray.num_gpus=0: none, whatever the machine has)
    proc = tune_cli("model=bow", "ray.num_gpus=0", "resources.gpu=0.5", f"hydra.run.dir={tmp_path}/none", timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1] == (
        "error: resources.gpu=0.5 per trial, but the local Ray instance has 0 GPUs "
        "(set ray.num_gpus, or join a cluster with ray.address)"
    )


def test_each_study_starts_with_its_default_configuration(tmp_path):
    # experiment=tiny's search (conf/experiment/tune/tiny.yaml) holds tiny's own settings as a point of the space
    trials = search(tmp_path, "model=bow", "evaluate_default=true", "num_samples=3", "searcher=optuna")
    assert len(trials) == 3 and trials["default"].sum() == 1
    (default_dir,) = trials.loc[trials["default"], "trial_dir"].map(Path)
    trained = OmegaConf.load(default_dir / "config.yaml")
    # exactly what train.py model=bow experiment=tiny trains
    assert (trained.model.embed_dim, trained.model.hidden_dim, trained.model.dropout) == (100, 128, 0.2)
    assert (trained.optimizer.lr, trained.batch_size, trained.tokenizer.vocab_size) == (1e-3, 16, 500)
    others = [OmegaConf.load(Path(d) / "config.yaml") for d in trials.loc[~trials["default"], "trial_dir"]]
    assert all(o.optimizer.lr != 1e-3 for o in others)  # sampled, not the default again


@pytest.mark.slow  # a 25 s study and its trials' deadlines (about 35 s): make test-slow
def test_trials_the_deadline_cuts_are_still_tested_and_no_trial_starts_too_late(tmp_path):
    # 10000 rounds per trial could never finish in 60 s: each trial stops itself in time to test its best checkpoint.
    # (60, not less: on a loaded or cold machine a first trial worker has taken 25 s to start.)
    trials = search(
        tmp_path,
        "model=bow",
        "searcher=random",
        "scheduler=fifo",
        "num_samples=50",
        "time_budget_s=60",
        "trainer.max_epochs=10000",
        "callbacks.early_stopping=null",  # only the deadline ends these trials
    )
    assert len(trials) >= 2 and (trials["status"] == "TERMINATED").all()
    assert trials[["test/acc", "num_params", "latency_ms/b1"]].notna().all().all()
    assert (trials["stopped_by_deadline"] == 1).all() and (trials["epochs"] < 10000).all()
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["search_seconds"] < 60 + 30  # ended by the trials themselves, before Ray's hard stop
    # random search queued all 50 up front: those that reached a worker too late never started training
    deadline = json.loads((tmp_path / "deadline.json").read_text())
    starts = [(Path(d) / "config.yaml").stat().st_mtime for d in trials["trial_dir"]]
    assert len(trials) < 50 and max(starts) < deadline["deadline"]
    assert deadline["first_round_s"] > 0 and deadline["finish_s"] > 0  # learned from the trials (no probe)


@pytest.mark.slow  # probes MiniLM and runs a 90 s sweep: make test-slow
def test_a_sweep_budget_skips_the_family_whose_trial_cannot_fit_and_says_why(tmp_path):
    # MiniLM's default trial (one pass over mr's 8452 texts) needs minutes, more than the budget; bow's seconds.
    # MiniLM is the likelier winner, so the plan offers it the time first, and finds it cannot fit.
    proc = tune_cli(
        "-m",
        "model=bow,minilm",
        "tokenizer.vocab_size=30522",  # MiniLM's own (experiment=tiny would give it 500)
        "trainer.limit_train_batches=null",  # whole passes, not tiny's 4 batches
        "budget=90s",
        "num_samples=2",
        "selection.seeds=[]",
        f"hydra.sweep.dir={tmp_path}",
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads((tmp_path / "budget_plan.json").read_text())
    by_name = {s["name"]: s for s in plan["studies"]}
    assert by_name["model=minilm"]["skip"].startswith("skipped: one trial needs ≈")
    assert by_name["model=bow"]["skip"] is None and by_name["model=bow"]["allotted_s"] > 0
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    skipped = board[board["study"] == "minilm_mr"]
    assert list(skipped["row"]) == ["skipped"] and "one trial needs" in skipped["note"].iloc[0]
    assert (tmp_path / "minilm_mr" / "study.json").exists() and not (tmp_path / "minilm_mr" / "study").exists()
    assert board[board["study"] == "bow_mr"]["test/acc"].notna().all()


@pytest.mark.parametrize("sweep", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_a_budget_that_fits_no_trial_is_one_line_before_any_training(tmp_path, sweep):
    args = ["-m", f"hydra.sweep.dir={tmp_path}"] if sweep else [f"hydra.run.dir={tmp_path}"]
    proc = tune_cli(*args, "model=bow", "budget=5s", timeout=300)
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert line.startswith("error: budget=5s:") and "needs ≈" in proc.stderr
    assert not list(tmp_path.glob("**/study")) and not list(tmp_path.glob("**/trials.csv"))


def test_data_smaller_than_a_batch_is_a_clear_error(tmp_path):
    rows = "text,label\n" + "".join(f"text number {i},{'ab'[i % 2]}\n" for i in range(24))
    (tmp_path / "tiny.csv").write_text(rows)
    proc = tune_cli(
        "-m",
        "model=bow",
        "data=csv",
        f"data.path={tmp_path / 'tiny.csv'}",
        "batch_size=32",
        "budget=10m",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        timeout=300,
    )
    assert proc.returncode == 2
    assert "fewer than one batch (batch_size=32)" in proc.stderr


@pytest.mark.slow
def test_feature_selection_is_a_search_dimension(tmp_path):
    proc = tune_cli("model=bow", "num_samples=3", "searcher=random", "feature_selection.keep_fraction=[0.25,0.5]",
                    f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert set(trials["param:feature_selection.keep_fraction"]) <= {0.25, 0.5} and len(trials) == 3
    for _, trial in trials.iterrows():
        vocab = json.loads((Path(trial["trial_dir"]) / "tokenizer.json").read_text())["model"]["vocab"]
        # the 4 special tokens always kept, the sampled fraction of the others (tiny searches vocab_size 500 / 1000)
        others = trial["param:tokenizer.vocab_size"] - 4
        assert len(vocab) == 4 + round(trial["param:feature_selection.keep_fraction"] * others)
