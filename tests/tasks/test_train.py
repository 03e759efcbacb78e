"""Training end to end: the real entry point, the run directory, determinism, evaluation, user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.tasks.cli import run_task
from attentune.tasks.evaluate import evaluate
from attentune.tasks.train import train
from conftest import REPO, TINY, compose_config

VOLATILE = {"train_seconds", "best_checkpoint", "latency_ms/b1", "latency_ms/b64"}


def run_cli(script: str, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, f"src/{script}", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    cfg = compose_config("train", TINY, out)
    return out, train(cfg)


def test_fast_dev_run_through_the_real_entry_point(tmp_path):
    proc = run_cli("train.py", *TINY, "+trainer.fast_dev_run=true", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["num_params"] > 0


def test_run_directory_holds_config_tokenizer_checkpoint_metrics(trained_run):
    out, metrics = trained_run
    for key in ("test/acc", "test/f1_macro", "val/acc_best", "num_params", "train_seconds"):
        assert key in metrics, key
    assert json.loads((out / "metrics.json").read_text())["test/acc"] == metrics["test/acc"]
    assert OmegaConf.load(out / "config.yaml").model.num_heads == 2  # heads=2 reached the model
    assert (out / "tokenizer.json").is_file()
    ckpt = torch.load(out / "checkpoints" / "best.ckpt", weights_only=True)  # loads without pickled code
    assert ckpt["attentune"]["label_names"] == ["negative", "positive"]
    assert (out / "csv" / "metrics.csv").is_file()


def test_same_seed_same_metrics(tmp_path):
    first = train(compose_config("train", TINY, tmp_path / "first"))
    second = train(compose_config("train", TINY, tmp_path / "second"))
    assert {k: v for k, v in second.items() if k not in VOLATILE} == {
        k: v for k, v in first.items() if k not in VOLATILE
    }
    third = train(compose_config("train", [*TINY, "seed=7"], tmp_path / "other-seed"))
    assert third["test/loss"] != first["test/loss"]


def test_evaluate_rescores_the_best_checkpoint(trained_run, tmp_path):
    out, metrics = trained_run
    cfg = compose_config(
        "evaluate",
        [
            f"ckpt_path={out}/checkpoints/best.ckpt",
            "+trainer.limit_test_batches=2",
        ],
        tmp_path,
    )
    again = evaluate(cfg)  # in the run's own precision (tiny: 32-true), also where bf16 would be the default
    assert again["precision"] == "32-true" and again["test/acc"] == pytest.approx(metrics["test/acc"])
    cfg.trainer.precision = "bf16-mixed"  # unless asked for another
    assert evaluate(cfg)["precision"] == "bf16-mixed"
    assert again["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-5)


def test_evaluate_cli_on_another_split(trained_run, tmp_path):
    out, _ = trained_run
    proc = run_cli("evaluate.py", f"ckpt_path={out}/checkpoints/best.ckpt", "split=val", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) >= {"val/acc", "val/f1_macro"} and metrics["examples"] > 100


def test_refuses_to_overwrite_a_finished_run(trained_run):
    out, _ = trained_run
    before = (out / "metrics.json").read_text()
    with pytest.raises(ConfigError, match="already holds a finished run"):
        train(compose_config("train", TINY, out))
    assert (out / "metrics.json").read_text() == before


@pytest.mark.parametrize(
    "override, message",
    [
        ("optimizer.lr=-0.1", "optimizer.lr"),
        ("train_examples=-5", "train_examples"),
        ("model.dropout=1.0", "dropout"),
        ("tokenizer.kind=nope", "unknown tokenizer"),
        ("data=csv", "data"),  # no path given
    ],
)
def test_bad_config_is_one_line_error_exit_2(tmp_path, capsys, override, message):
    with pytest.raises(SystemExit) as stop:  # what the entry point runs (the test below runs the real one)
        run_task(train, compose_config("train", [*TINY, override], tmp_path))
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], lines[-5:]
    assert not (tmp_path / "metrics.json").exists()


def test_the_entry_point_turns_a_bad_config_into_one_line_and_exit_2(tmp_path):
    proc = run_cli("train.py", *TINY, "d_model=15", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "divisible" in lines[-1], proc.stderr[-1000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_bad_checkpoint_path(tmp_path):
    proc = run_cli("evaluate.py", f"ckpt_path={tmp_path}/missing.ckpt", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2 and "error: ckpt_path" in proc.stderr


def test_many_loggers_csv_tensorboard_and_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must be attentune's default, not the test's
    metrics = train(compose_config("train", [*TINY, "logger=many"], tmp_path))
    assert os.environ["WANDB_MODE"] == "offline"
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))  # a real offline run, syncable with `wandb sync`
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_a_run_keeps_its_best_checkpoints_predictions_in_dataset_order(cfg_train, tmp_path):
    import numpy as np

    from attentune.tasks.classification.predictions import PREDICTIONS_FILE, load_predictions

    cfg = cfg_train(
        "data=trec", "trainer.max_epochs=3", "trainer.limit_val_batches=1.0", "trainer.limit_test_batches=1.0"
    )
    metrics = train(cfg)
    kept = load_predictions(tmp_path / "run" / PREDICTIONS_FILE)
    assert kept["val"].shape == (len(kept["val_labels"]), 6) and np.allclose(kept["test"].sum(1), 1.0, atol=1e-4)
    # rows in dataset order and from the checkpoint that was kept: they score exactly what the run reported
    assert (kept["test"].argmax(1) == kept["test_labels"]).mean() == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert (kept["val"].argmax(1) == kept["val_labels"]).mean() == pytest.approx(metrics["val/acc_best"], abs=1e-6)
    # a run that evaluates part of a split keeps none: its predictions could not stand for the split
    partial = cfg_train("data=trec", output_dir=tmp_path / "partial")
    train(partial)
    assert load_predictions(tmp_path / "partial" / PREDICTIONS_FILE) is None
