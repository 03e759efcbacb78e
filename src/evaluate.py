"""Re-score a checkpoint: ``python src/evaluate.py ckpt_path=outputs/.../checkpoints/best.ckpt [data=trec]``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_task("attentune.tasks.evaluate:evaluate", cfg)


if __name__ == "__main__":
    main()
