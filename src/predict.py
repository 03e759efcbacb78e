"""Predict with a checkpoint: ``python src/predict.py ckpt_path=... text=...`` or ``question=... context=...``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    run_task("attentune.serving.predict:predict", cfg)


if __name__ == "__main__":
    main()
