"""Export a checkpoint to ONNX: ``python src/export.py ckpt_path=... format=onnx [quantize=int8]``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    run_task("attentune.serving.export:export", cfg)


if __name__ == "__main__":
    main()
