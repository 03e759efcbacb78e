"""The budget plan per data size and machine speed, and (with --run) the real sweep against it.

For each training-set size it writes a user-style CSV (``make_csv.py bbc_snippets``; ``--reviews`` adds the ~11k
reviews CSV), and asks the planner for the plan ``tune.py -m`` would make (probing every family, computing the
reference, nothing trained): each family's chance to win, one trial's seconds and its share, what is skipped and
the budget that fits every family. ``--speed slow`` plans on one core (``taskset -c 0``: a machine 2x slower
than two cores, the way a slower CPU is), ``--speed both`` prints both. ``--run`` then runs the real sweep on the
first dataset and prints planned vs used seconds per study and the leaderboard's first lines.

  .venv/bin/python scripts/bench/budget_scaling.py --sizes 2000 11000 25000 --builtin mr trec --speed both
  unshare -rn sh -c 'ip link set lo up && .venv/bin/python scripts/bench/budget_scaling.py --reviews --sizes --run'
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAMILIES = "mha,bow,cnn,bilstm,minilm"


def make_data(kind: str, size: int | None, root: Path) -> Path:
    out = root / (f"bbc{size}" if kind == "bbc_snippets" else kind)
    if not (out / "train.csv").exists():
        extra = ["--train", str(size)] if size else []
        subprocess.run([sys.executable, str(REPO / "scripts/bench/make_csv.py"), kind, str(out), *extra], check=True)
    return out


def data_overrides(data: Path) -> list[str]:
    return ["data=csv", *(f"data.{s}_path={data}/{s}.csv" for s in ("train", "val", "test"))]


def plan_only(data_args: list[str], budget: str) -> str:
    """The plan table ``tune.py -m`` would print: probes every family, trains nothing."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    from attentune.tuning.planner.sweep import plan_sweep, plan_table

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"), tempfile.TemporaryDirectory() as d:
        overrides = [f"budget={budget}", f"hydra.sweeper.params.model='{FAMILIES}'", f"hydra.sweep.dir={d}", *data_args]
        cfg = compose("tune", overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # paths resolve through Hydra, as in a sweep
        plan = plan_sweep(cfg)
        return plan_table(plan, float(cfg.budget_policy.selection_share))


def run_sweep(label: str, data_args: list[str], budget: str, root: Path) -> None:
    sweep = root / f"sweep_{label.split()[0]}_{int(time.time())}"
    start = time.time()
    cmd = [sys.executable, "src/tune.py", "-m", f"budget={budget}", *data_args, f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=REPO)
    print(f"sweep exit {proc.returncode} in {time.time() - start:.0f} s: {sweep}")
    plan = json.loads((sweep / "budget_plan.json").read_text())
    print(f"budget {plan['budget_s']:.0f} s; planned / used seconds, trials:")
    for s in plan["studies"]:
        study = next(sweep.glob(f"{s['family']}_*/study.json"), None)
        trials = json.loads(study.read_text()).get("trials", 0) if study else 0
        print(f"  {s['name']}: {s['allotted_s']:.0f} / {s['actual_s'] or 0:.0f} s, {trials} trials {s['skip'] or ''}")
    print((sweep / "leaderboard.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[2000, 11000, 25000, 50000])
    parser.add_argument("--reviews", action="store_true", help="also the ~11k reviews CSV")
    parser.add_argument("--builtin", nargs="*", default=[], help="also plan these built-in datasets (e.g. mr trec)")
    parser.add_argument("--budget", default="auto")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/attentune-bench-data"))
    parser.add_argument("--speed", choices=["normal", "slow", "both"], default="normal")
    parser.add_argument("--run", action="store_true", help="also run the real sweep on the first dataset")
    args = parser.parse_args()
    if args.speed != "normal" and "ATTENTUNE_BENCH_SPEED" not in os.environ:
        speeds = ["normal", "slow"] if args.speed == "both" else ["slow"]
        for speed in speeds:
            pin = ["taskset", "-c", "0"] if speed == "slow" else []
            env = {**os.environ, "ATTENTUNE_BENCH_SPEED": speed}
            subprocess.run([*pin, sys.executable, *sys.argv], env=env, check=True)
        return
    speed = os.environ.get("ATTENTUNE_BENCH_SPEED", "normal")
    print(f"## machine speed: {speed} ({len(os.sched_getaffinity(0))} cores)", flush=True)
    datasets = [
        (f"bbc_snippets {n}", lambda n=n: data_overrides(make_data("bbc_snippets", n, args.data_root)))
        for n in args.sizes
    ]
    if args.reviews:
        datasets.insert(0, ("reviews", lambda: data_overrides(make_data("reviews", None, args.data_root))))
    datasets += [(f"{name} (built-in)", lambda name=name: [f"data={name}"]) for name in args.builtin]
    for label, data_args in datasets:
        print(f"\n### {label}\n{plan_only(data_args(), args.budget)}", flush=True)
    if args.run and datasets:
        label, data_args = datasets[0]
        run_sweep(label, data_args(), args.budget, args.data_root)


if __name__ == "__main__":
    main()
