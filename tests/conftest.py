"""Shared fixtures: configs composed from the real ``conf/`` with tiny overrides (lightning-hydra-template style)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from attentune.tasks import runconfig  # noqa: F401 - the config resolvers (${mul:...}) that composed configs use

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
REPO = Path(__file__).resolve().parents[1]

# conf/experiment/tiny.yaml: a model and run small enough that a fit takes about a second.
TINY = ["experiment=tiny"]

# A few batches of short windows on the synthetic SQuAD v2.0 set (generated once into the test cache).
QA_TINY = [
    "task=qa",
    "data=squad_synth",
    "max_length=96",
    "task.stride=16",
    "task.max_question_tokens=32",
    "batch_size=8",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "+trainer.limit_test_batches=2",
    "trainer.precision=32-true",
    "latency.batch_sizes=[1]",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
]

# QA_TINY's windows, but sizes from the QA search space (max_length 192/256): few batches, small models
TUNE_QA = [
    *[o for o in QA_TINY if not o.startswith(("max_length", "task.stride", "task.max_question"))],
    "model=mha",
    "num_samples=2",
    "searcher=random",
    "scheduler=fifo",
    "ray.num_cpus=2",
    "max_concurrent=2",
    "evaluate_default=false",
    "budget=null",
    "selection.seeds=[]",
]


@pytest.fixture(scope="session", autouse=True)
def _environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["WANDB_MODE"] = "offline"
    os.environ["ATTENTUNE_CACHE"] = str(tmp_path_factory.mktemp("cache"))


def compose_config(name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def cfg_train(tmp_path: Path):
    """Factory: ``cfg_train(*extra_overrides)`` -> a tiny training config writing under tmp_path."""

    def make(*overrides: str, output_dir: Path | None = None) -> DictConfig:
        return compose_config("train", TINY + list(overrides), output_dir or tmp_path / "run")

    return make


def wandb_run(run_dir: Path) -> dict:
    """An offline W&B run as W&B's own reader (``wandb leet inspect``) sees it: its summary view (config, name,
    tags, summary) and its run record (group, job type)."""
    reader = [sys.executable, "-m", "wandb", "leet", "inspect"]
    (path,) = run_dir.glob("wandb/offline-run-*/*.wandb")
    view = json.loads(
        subprocess.run(
            [*reader, "--summary", "--json", str(path)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    )
    records = subprocess.run([*reader, "--json", str(path)], capture_output=True, text=True, check=True, timeout=120)
    (run,) = [r["run"] for r in map(json.loads, records.stdout.splitlines()) if r.get("type") == "run"]
    return view | {"group": run.get("run_group"), "job_type": run.get("job_type")}
