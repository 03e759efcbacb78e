"""Attention-guided feature selection: ``python src/select_features.py ckpt_path=... keep=[0.25,0.5,1.0] seeds=3``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="select_features")
def main(cfg: DictConfig) -> None:
    run_task("attentune.interpret.features:select_features", cfg)


if __name__ == "__main__":
    main()
