"""Search: ``python src/tune.py -m`` (one Ray Tune study per model family, then a leaderboard) or one study:
``python src/tune.py model=mha searcher=optuna scheduler=asha num_samples=40 data=trec``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="tune")
def main(cfg: DictConfig) -> None:
    run_task("attentune.tuning.study:run_study", cfg, validate=True)


if __name__ == "__main__":
    main()
