"""Does every built-in family fit at least one full trial in the default budget, from ~2k to ~50k examples?

For each training-set size it writes a user-style CSV (``make_csv.py bbc_snippets``), probes each family's
default trial on it exactly as ``tune.py -m`` does before its first study, and prints the budget plan:
each family's estimated trial seconds, its share of the budget, or why it would be skipped. With ``--run``
it then runs the real sweep at one size and prints estimated vs measured seconds per study.

  .venv/bin/python scripts/bench/budget_scaling.py --sizes 2000 11000 25000 50000 --builtin mr trec
  unshare -rn sh -c 'ip link set lo up && .venv/bin/python scripts/bench/budget_scaling.py --sizes 25000 --run'
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAMILIES = "mha,bow,cnn,bilstm,minilm"


def make_data(size: int, root: Path) -> Path:
    out = root / f"bbc{size}"
    if not (out / "train.csv").exists():
        subprocess.run(
            [sys.executable, str(REPO / "scripts/bench/make_csv.py"), "bbc_snippets", str(out), "--train", str(size)],
            check=True,
        )
    return out


def data_overrides(data: Path) -> list[str]:
    return [
        "data=csv",
        f"data.train_path={data}/train.csv",
        f"data.val_path={data}/val.csv",
        f"data.test_path={data}/test.csv",
    ]


def plan_only(data_args: list[str], budget: str) -> dict:
    """The plan ``tune.py -m`` would make: probes every family, trains nothing."""
    from hydra import compose, initialize_config_dir

    from attentune.tuning.config import base_training_config
    from attentune.tuning.planner.cost import parse_budget
    from attentune.tuning.planner.plan import SweepPlan
    from attentune.tuning.planner.sweep import probe_study

    entries = []
    start = time.time()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for family in FAMILIES.split(","):
            cfg = compose(
                "tune", [f"model={family}", f"budget={budget}", *data_args], return_hydra_config=True
            )
            from hydra.core.hydra_config import HydraConfig

            HydraConfig.instance().set_config(cfg)  # base_training_config resolves paths through Hydra
            entries.append(probe_study(cfg, base_training_config(cfg), family, family))
    budget_s = parse_budget(budget)
    plan = SweepPlan(budget_s=budget_s, start=start, selection_s=0.25 * budget_s, studies=entries)
    plan.probe_s = round(time.time() - start, 1)
    plan.allot(now=start)
    return json.loads(json.dumps(plan, default=lambda o: o.__dict__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 11000, 25000, 50000])
    parser.add_argument("--budget", default="40m")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/attentune-bench-data"))
    parser.add_argument("--builtin", nargs="*", default=[], help="also plan these built-in datasets (e.g. mr trec)")
    parser.add_argument("--run", action="store_true", help="also run the real sweep (the first size only)")
    args = parser.parse_args()
    print(f"budget {args.budget}; seconds per family: estimated full default trial / share of the budget")
    print("| train examples | probe s | " + " | ".join(FAMILIES.split(",")) + " | all fit |")
    print("|---" * (len(FAMILIES.split(",")) + 3) + "|")
    rows = [(str(size), lambda size=size: data_overrides(make_data(size, args.data_root))) for size in args.sizes]
    rows += [(f"{name} (built-in)", lambda name=name: [f"data={name}"]) for name in args.builtin]
    for label, data_args in rows:
        plan = plan_only(data_args(), args.budget)
        cells = [s["skip"] or f"{s['trial_s']:.0f} / {s['allotted_s']:.0f}" for s in plan["studies"]]
        fits = all(s["skip"] is None for s in plan["studies"])
        print(
            f"| {label} | {plan['probe_s']:.0f} | " + " | ".join(cells) + f" | {'yes' if fits else 'NO'} |", flush=True
        )
    if args.run:
        data = make_data(args.sizes[0], args.data_root)
        sweep = args.data_root / f"sweep{args.sizes[0]}"
        start = time.time()
        proc = subprocess.run(
            [
                sys.executable,
                "src/tune.py",
                "-m",
                f"budget={args.budget}",
                *data_overrides(data),
                f"hydra.sweep.dir={sweep}",
            ],
            cwd=REPO,
        )
        print(f"sweep exit {proc.returncode} in {time.time() - start:.0f} s (budget {args.budget}): {sweep}")
        plan = json.loads((sweep / "budget_plan.json").read_text())
        for s in plan["studies"]:
            study = next(sweep.glob(f"{s['name'].removeprefix('model=')}_*/study.json"), None)
            info = json.loads(study.read_text()) if study else {}
            print(
                f"{s['name']}: estimated trial {s['trial_s']:.0f} s, allotted {s['allotted_s']:.0f} s, "
                f"ran {info.get('search_seconds', 0):.0f} s, {info.get('trials', 0)} trials, {s['skip'] or ''}"
            )
        print((sweep / "leaderboard.md").read_text())


if __name__ == "__main__":
    main()
