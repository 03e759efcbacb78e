"""The budget plan per dataset and machine speed, and (with --run) the real sweeps and the README's table.

Each ``--csv KIND[:N]`` is a user-style CSV (``make_csv.py KIND``, N training texts), each ``--builtin NAME`` a
built-in dataset. For each, it asks the planner for the plan ``tune.py -m`` would make (probing every family,
computing the reference, nothing trained): each family's chance to win, one trial's seconds and its share, what
is skipped and the budget that fits every family. ``--speed slow`` plans on one core (``taskset -c 0``: a machine
2x slower than two cores, the way a slower CPU is), ``--speed both`` does both. ``--run`` then runs the real
sweep (``tune.py -m``, a fresh cache, so its priors are the shipped ones) on every dataset and prints one table
row per sweep: the winner's test score against the reference and the best single attention model, each family's
trial count, planned vs used seconds. A finished sweep is not run again (its directory under ``--data-root``).

  .venv/bin/python scripts/bench/budget_scaling.py --csv bbc_snippets:2000 bbc_snippets:25000 --builtin mr trec
  unshare -rn sh -c 'ip link set lo up && .venv/bin/python scripts/bench/budget_scaling.py --run --speed both \
      --csv healthtweets:11000 healthtweets:30000 --builtin mr'
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


def make_data(spec: str, root: Path) -> Path:
    kind, _, size = spec.partition(":")
    out = root / f"{kind}{size}"
    if not (out / "train.csv").exists():
        extra = ["--train", size] if size else []
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


ATTENTION = ("mha", "minilm")


def run_sweep(label: str, data_args: list[str], budget: str, sweep: Path) -> None:
    """Run (or, when it finished before, read) the sweep in ``sweep`` and print its table row."""
    if not (sweep / "summary.json").exists():
        start = time.time()
        cmd = [sys.executable, "src/tune.py", "-m", f"budget={budget}", *data_args, f"hydra.sweep.dir={sweep}"]
        proc = subprocess.run([*cmd, f"paths.cache_dir={sweep}/cache"], cwd=REPO)
        (sweep / "wall_s.txt").write_text(f"{time.time() - start:.0f}\n")
        print(f"sweep exit {proc.returncode} in {time.time() - start:.0f} s: {sweep}")
    print(table_row(label, sweep))


def table_row(label: str, sweep: Path) -> str:
    """A README table row: data, budget, wall, trials, winner, reference, best single attention model, best default,
    planned/used seconds.

    The best single attention model and the best default configuration are the ones best on validation."""
    summary = json.loads((sweep / "summary.json").read_text())
    plan = json.loads((sweep / "budget_plan.json").read_text())
    rows = summary["studies"]
    reference = next(r for r in rows if r["row"] == "reference")["test/acc"]
    trials, used = [], []
    for s in plan["studies"]:
        best = next((r for r in rows if r["study"].startswith(f"{s['family']}_") and r["row"] != "default"), {})
        trials.append(f"{s['family']} {best.get('trials') or 0}")
        used.append(f"{s['family']} {s['allotted_s']:.0f}/{s['actual_s'] or 0:.0f}")
    attention = [r for r in rows if r["row"].startswith("best") and r["study"].split("_")[0] in ATTENTION]
    single = max(attention, key=lambda r: r["best val/acc"], default=None)  # chosen on validation, as selection does
    defaults = [r for r in rows if r["row"] in ("default", "best = default") and r.get("test/acc") is not None]
    default = max(defaults, key=lambda r: r["best val/acc"], default=None)
    wall = f"{float((sweep / 'wall_s.txt').read_text()) / 60:.1f} min" if (sweep / "wall_s.txt").exists() else "?"
    winner = summary["winner_test"].get("test/acc")
    lines = (sweep / "leaderboard.md").read_text().splitlines()
    named = next((line.split("Winner: ", 1)[1] for line in lines if "Winner: " in line), "no winner")
    what = (summary.get("winner_name") or named).split(", val/")[0]
    return (
        f"| {label} | {plan['budget_s'] / 60:.0f} min{' (auto)' if plan.get('auto') else ''} | "
        f"{wall} | {', '.join(trials)} | {what} {100 * winner:.1f} | {100 * reference:.1f} | "
        + (f"{single['study'].split('_')[0]} {100 * single['test/acc']:.1f}" if single else "none")
        + (f" | {default['study'].split('_')[0]} {100 * default['test/acc']:.1f}" if default else " | none")
        + f" | {', '.join(used)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", nargs="*", default=["healthtweets:11000", "healthtweets:30000"], metavar="KIND[:N]")
    parser.add_argument("--builtin", nargs="*", default=[], help="also these built-in datasets (e.g. mr trec)")
    parser.add_argument("--budget", default="auto")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/attentune-bench-data"))
    parser.add_argument("--speed", choices=["normal", "slow", "both"], default="normal")
    parser.add_argument("--run", action="store_true", help="also run the real sweep on every dataset")
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
    datasets = [(spec, lambda spec=spec: data_overrides(make_data(spec, args.data_root))) for spec in args.csv]
    datasets += [(name, lambda name=name: [f"data={name}"]) for name in args.builtin]
    for label, data_args in datasets:
        print(f"\n### {label}\n{plan_only(data_args(), args.budget)}", flush=True)
    for label, data_args in datasets if args.run else []:
        run_sweep(f"{label}, {speed}", data_args(), args.budget, args.data_root / f"sweep_{label}_{speed}")


if __name__ == "__main__":
    main()
