"""Where a trial's time goes: training seconds per example with random vs length-bucketed batches, evaluation
seconds per example, and the data's token lengths against ``max_length``, for each family's default config.

  OMP_NUM_THREADS=1 .venv/bin/python scripts/bench/trial_cost.py --data mr --families mha bow cnn bilstm minilm
  OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python scripts/bench/trial_cost.py ...      # the slow machine: one core
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]


def seconds_per_example(step, batches: list[dict]) -> float:
    step(batches[0])  # warm-up
    start, items = time.perf_counter(), 0
    for batch in batches[1:]:
        step(batch)
        items += batch["input_ids"].shape[0]
    return (time.perf_counter() - start) / max(items, 1)


def measure(family: str, data: list[str], steps: int) -> dict:
    from hydra import compose, initialize_config_dir

    from attentune.tasks.prepare import RunData
    from attentune.tasks.task import task_of
    from attentune.tuning.planner.probe import module_steps

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("train", [f"model={family}", *data])
    run = RunData()
    dataset = run.dataset(cfg)
    setup = task_of(cfg).setup(cfg, run.prepare(cfg, dataset), {"config": {}})
    dm, module = setup.datamodule, setup.module
    dm.setup("fit")
    lengths = np.array([len(ids) for ids, _ in dm.encoded("train")])
    train_step, eval_step, _ = module_steps(cfg, module)

    items = dm.encoded("train")
    rng = random.Random(0)
    rand = [dm.collate_fn(rng.sample(items, cfg.batch_size)) for _ in range(steps + 1)]
    full = (b for b in dm.train_dataloader() if b["input_ids"].shape[0] == cfg.batch_size)
    bucketed = list(itertools.islice(full, steps + 1))
    module.train()
    out = {
        "family": family,
        "train random": seconds_per_example(train_step, rand),
        "train bucketed": seconds_per_example(train_step, bucketed),
        "padded random": float(np.mean([b["input_ids"].shape[1] for b in rand])),
        "padded bucketed": float(np.mean([b["input_ids"].shape[1] for b in bucketed])),
    }
    module.eval()
    out["eval sorted"] = seconds_per_example(eval_step, list(itertools.islice(dm.val_dataloader(), 4)))
    out["tokens"] = "/".join(str(int(np.percentile(lengths, q))) for q in (50, 95, 99, 100))
    out["max_length"] = int(cfg.max_length)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="*", default=["data=mr"], help="train.py overrides choosing the data")
    parser.add_argument("--families", nargs="+", default=["mha", "bow", "cnn", "bilstm", "minilm"])
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"threads {torch.get_num_threads()}; data {' '.join(args.data)}; seconds per example")
    head = "| family | train random | train bucketed | saved | padded random / bucketed | eval | tokens p50/95/99/max |"
    print(head)
    print("|---|---|---|---|---|---|---|")
    for family in args.families:
        r = measure(family, args.data, args.steps)
        saved = 1 - r["train bucketed"] / r["train random"]
        print(
            f"| {family} | {r['train random']:.5f} | {r['train bucketed']:.5f} | {saved:.0%} | "
            f"{r['padded random']:.1f} / {r['padded bucketed']:.1f} | {r['eval sorted']:.5f} | "
            f"{r['tokens']} (max_length {r['max_length']}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
