"""Which families are likely to win on this data, from our measured sweeps (``priors.yaml``) and the user's own.

Each observation is one family's best test score minus the reference row's, in points, on a dataset of
``n_train`` examples whose texts have ``words`` words on average. A family's expected gain on new data is the
kernel-weighted mean of its observations, nearer data sizes and text lengths weighing more, shrunk towards its
mean over every dataset; its spread is their weighted spread plus the noise of one sweep. From those, each
family's chance to be the best candidate (the reference row counts as one, at gain 0) orders the plan: the
families most likely to win get their first trial before any other gets a second, and when the budget cannot
fit every family, the least likely are skipped. A finished sweep appends its rows to ``<cache_dir>/priors.jsonl``
(their gains are validation points: the search never looks at test), so the table learns the user's own data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

SHIPPED = Path(__file__).with_name("priors.yaml")
USER_FILE = "priors.jsonl"
SIZE_SCALE = 0.5  # log10 units: a dataset 3x larger or smaller weighs exp(-0.5) as much
WORDS_SCALE = 1.0  # log2 units: texts twice as long weigh exp(-0.5) as much
SHRINK = 0.5  # pseudo-weight of the family's overall mean
SWEEP_NOISE = 1.5  # points: seed and split noise of one family's best in one sweep


@dataclass(frozen=True)
class Gain:
    """Expected test points over the reference, its spread and how many observations it rests on."""

    mean: float
    spread: float
    evidence: int


UNKNOWN = Gain(-2.0, 4.0, 0)  # a family never measured: a little below the reference, very uncertain


def load_observations(user_dir: Path | None = None, task: str = "classification") -> list[dict]:
    """The shipped table, then the user's own rows (``<user_dir>/priors.jsonl``) for ``task``."""
    shipped = yaml.safe_load(SHIPPED.read_text())
    rows = list(shipped["observations"]) if shipped.get("task") == task else []
    path = None if user_dir is None else Path(user_dir) / USER_FILE
    if path is not None and path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a crash: the others still count
                continue
            if row.get("task", "classification") == task:
                rows.append(row)
    return rows


def expected_gain(observations: list[dict], family: str, n_train: int, words: float) -> Gain:
    """The family's expected gain over the reference on data of ``n_train`` texts of ``words`` words."""
    rows = [r for r in observations if r["family"] == family]
    if not rows:
        return UNKNOWN
    gains = np.array([float(r["gain"]) for r in rows])
    d_size = (np.log10([max(r["n_train"], 1) for r in rows]) - math.log10(max(n_train, 1))) / SIZE_SCALE
    d_words = (np.log2([max(r["words"], 1) for r in rows]) - math.log2(max(words, 1.0))) / WORDS_SCALE
    w = np.exp(-0.5 * (d_size**2 + d_words**2))
    overall = float(gains.mean())
    mean = (float((w * gains).sum()) + SHRINK * overall) / (float(w.sum()) + SHRINK)
    var = (float((w * (gains - mean) ** 2).sum()) + SHRINK * float(gains.var())) / (float(w.sum()) + SHRINK)
    return Gain(round(mean, 2), round(math.sqrt(var + SWEEP_NOISE**2), 2), len(rows))


def win_chances(gains: dict[str, Gain], draws: int = 4000, seed: int = 0) -> dict[str, float]:
    """Each family's chance to be the best candidate, the reference (gain 0, no spread) included as one.

    Independent normal draws of every family's gain; seeded, so a plan is the same on every run."""
    names = list(gains)
    if not names:
        return {}
    rng = np.random.default_rng(seed)
    draws_ = np.stack(
        [rng.normal(gains[n].mean, gains[n].spread, size=draws) for n in names] + [np.zeros(draws)], axis=1
    )
    best = draws_.argmax(axis=1)
    return {n: float((best == i).mean()) for i, n in enumerate(names)}


def mean_words(texts: list[str], limit: int = 2000) -> float:
    """The mean number of whitespace-separated words of (up to ``limit`` of) ``texts``."""
    sample = texts[:limit]
    return sum(len(t.split()) for t in sample) / max(len(sample), 1)


def record(user_dir: Path, rows: list[dict]) -> int:
    """Append a finished sweep's observations (``family``, ``gain``, ``n_train``, ``words``, ``data``, ``task``,
    ``sweep``); a sweep already recorded (selection re-run on it) is not counted twice. Returns the rows added."""
    recorded = {row.get("sweep") for row in load_observations(user_dir, rows[0]["task"])} if rows else set()
    rows = [row for row in rows if row.get("sweep") is None or row["sweep"] not in recorded]
    if not rows:
        return 0
    user_dir.mkdir(parents=True, exist_ok=True)
    with (user_dir / USER_FILE).open("a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return len(rows)
