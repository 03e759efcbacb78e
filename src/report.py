"""A report.html for a sweep or a run: ``python src/report.py sweep_dir=...`` or ``run_dir=...``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    run_task("attentune.reports.pages:report", cfg)


if __name__ == "__main__":
    main()
