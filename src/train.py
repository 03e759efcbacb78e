"""Train one model: ``python src/train.py model=mha heads=8 data=trec``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> None:
    run_task("attentune.tasks.train:train", cfg, validate=True)


if __name__ == "__main__":
    main()
