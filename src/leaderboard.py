"""Model selection over a finished sweep: ``python src/leaderboard.py sweep_dir=<sweep dir>``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="leaderboard")
def main(cfg: DictConfig) -> None:
    run_task("attentune.tuning.selection:select", cfg)


if __name__ == "__main__":
    main()
