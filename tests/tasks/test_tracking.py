"""What runs tell W&B, TensorBoard and CSV, read back with each tool's own reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from conftest import REPO, wandb_run


def test_a_training_run_logs_its_whole_config_flat_its_facts_and_a_readable_name(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "src/train.py", "experiment=tiny", "logger=many", "heads=4", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    run = wandb_run(tmp_path)
    config = run["config"]
    assert config["model.num_heads"] == 4 and config["optimizer.lr"] == 1e-3 and config["family"] == "mha"
    assert config["num_params"] == metrics["num_params"] and config["data.name"] == "mr"
    assert config["data.n_train"] > config["data.n_val"] > 0 and "logger.wandb.name" not in config
    assert run["name"].startswith("mha_mr_") and {"mha", "mr", "classification"} <= set(run["tags"])
    assert run["summary"]["test/acc"] == metrics["test/acc"] and run["state"] == "finished"
    hparams = yaml.safe_load((tmp_path / "csv" / "hparams.yaml").read_text())  # CSV: the same flat keys
    assert hparams["model.num_heads"] == 4 and hparams["num_params"] == metrics["num_params"]
    tensorboard = yaml.safe_load((tmp_path / "tensorboard" / "hparams.yaml").read_text())  # TensorBoardLogger's
    assert tensorboard["model.num_heads"] == 4 and list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
