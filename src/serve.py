"""Serve a model over HTTP (Ray Serve): ``python src/serve.py ckpt_path=... [backend=onnx] [replicas=2] port=8000``."""

import hydra
from omegaconf import DictConfig

from attentune.tasks.cli import run_task


@hydra.main(version_base="1.3", config_path="../conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    run_task("attentune.serving.server:serve", cfg)


if __name__ == "__main__":
    main()
