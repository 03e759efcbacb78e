"""Explain a checkpoint's predictions: ``python src/explain.py ckpt_path=... text=...`` or ``data=mr n=500``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="explain")
def main(cfg: DictConfig) -> None:
    run_task("attentune.interpret.command:explain", cfg)


if __name__ == "__main__":
    main()
