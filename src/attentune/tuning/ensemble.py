"""Ensemble selection over a sweep's kept predictions (Caruana et al. 2004, as auto-sklearn and AutoGluon use it).

Candidates are each study's trials that kept a checkpoint and their predictions (``predictions.npz``), and the
reference. Greedy forward selection with replacement on the validation split only: each round adds the candidate
that most improves the ensemble's validation accuracy (ties: log-loss), starting from the best single candidate;
the ensemble is the best prefix of rounds, its weights the candidates' counts. Test predictions are only scored.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from attentune.tasks.classification.ensemble import write_ensemble
from attentune.tasks.classification.predictions import PREDICTIONS_FILE as PREDS
from attentune.tasks.classification.predictions import load_predictions
from attentune.tasks.classification.reference import MODEL_FILE

ROUNDS = 25


@dataclass
class Candidate:
    name: str  # for the leaderboard: "mha_mr trial 3fa2c1", "reference"
    kind: str  # "checkpoint" or "reference"
    path: str  # the checkpoint, or the reference's model file
    val: np.ndarray  # (N_val, C) probabilities
    test: np.ndarray  # (N_test, C)
    arrays: dict = field(default_factory=dict, repr=False)  # the whole predictions file (labels too)


def _score(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, -log-loss): larger is better, compared as a tuple."""
    acc = float((probs.argmax(1) == labels).mean())
    nll = float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())
    return acc, -nll


def select_ensemble(candidates: list[Candidate], val_labels: np.ndarray, rounds: int = ROUNDS) -> dict[str, float]:
    """Weights (summing to 1) of the candidates in the selected ensemble, by name."""
    if not candidates:
        return {}
    total = np.zeros_like(candidates[0].val, dtype=np.float64)
    counts: dict[str, int] = {}
    history: list[tuple[tuple[float, float], dict[str, int]]] = []
    for r in range(rounds):
        scored = [(_score((total + c.val) / (r + 1), val_labels), i) for i, c in enumerate(candidates)]
        best_score, best = max(scored, key=lambda item: (item[0], -item[1]))  # ties: the earlier candidate
        total += candidates[best].val
        counts[candidates[best].name] = counts.get(candidates[best].name, 0) + 1
        history.append((best_score, dict(counts)))
    _, chosen = max(history, key=lambda item: item[0])  # the first best prefix: fewest rounds
    n = sum(chosen.values())
    return {name: k / n for name, k in chosen.items()}


def blend(candidates: list[Candidate], weights: dict[str, float], split: str) -> np.ndarray:
    """Shapes: (N, C) weighted mean of the candidates' ``split`` probabilities."""
    return sum(weights[c.name] * getattr(c, split) for c in candidates if c.name in weights)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return _score(probs, labels)[0]


def sweep_candidates(studies: list[dict], refs: list[dict], metric: str, mode: str, per_study: int) -> list[Candidate]:
    """Each study's best ``per_study`` finished trials that kept a checkpoint and predictions (whole splits), and
    the reference; none when the sweep covers several datasets or the task keeps no predictions (QA)."""
    if len(refs) != 1:
        return []
    out = []
    for s in studies:
        t = s["trials"]
        if s.get("skipped") or s.get("error") or t.empty:
            continue
        done = t[t["status"] == "TERMINATED"].dropna(subset=[metric])
        done = done.sort_values(metric, ascending=mode == "min", kind="stable")
        kept = 0
        for _, trial in done.iterrows():
            ckpt, preds = Path(trial["trial_dir"]) / "checkpoints" / "best.ckpt", Path(trial["trial_dir"]) / PREDS
            loaded = load_predictions(preds) if ckpt.exists() else None
            if loaded is None:
                continue
            name = f"{s['study']} trial {trial['trial_id']}"
            out.append(Candidate(name, "checkpoint", str(ckpt), loaded["val"], loaded["test"], loaded))
            kept += 1
            if kept >= per_study:
                break
    ref_dir = refs[0].get("dir")
    loaded = load_predictions(Path(ref_dir) / PREDS) if ref_dir else None
    if loaded is not None:  # the reference is a candidate even when no trial kept its predictions
        model = str(Path(ref_dir) / MODEL_FILE)
        out.append(Candidate("reference", "reference", model, loaded["val"], loaded["test"], loaded))
    labels = out[-1].arrays["val_labels"] if out else None  # the reference's, when it has them
    return [c for c in out if np.array_equal(c.arrays["val_labels"], labels)]  # the same split, the same order


def sweep_ensemble(candidates: list[Candidate]) -> dict | None:
    """The selected ensemble's weights and its validation and test scores; None with fewer than two members."""
    if not candidates:
        return None
    labels = {split: candidates[0].arrays[f"{split}_labels"] for split in ("val", "test")}
    weights = select_ensemble(candidates, labels["val"])
    if len(weights) < 2:
        return None
    scores = {}
    for split in ("val", "test"):
        probs = blend(candidates, weights, split)
        scores[f"{split}/acc"] = accuracy(probs, labels[split])
        scores[f"{split}/f1_macro"] = float(f1_score(labels[split], probs.argmax(1), average="macro"))
    return {"weights": weights, "scores": scores}


def describe(weights: dict[str, float]) -> str:
    return "members: " + ", ".join(f"{name} {w:.2f}" for name, w in sorted(weights.items(), key=lambda kv: -kv[1]))


def write_best_ensemble(
    out: Path, candidates: list[Candidate], weights: dict[str, float], base: dict, label_names: list[str], scores: dict
) -> None:
    """``best/`` as an ensemble (a reference winner: an ensemble of one): member files copied under
    ``members/``, ``ensemble.json`` and ``metrics.json``; whatever an earlier selection left there goes first."""
    if out.exists():
        shutil.rmtree(out)
    members = []
    for i, c in enumerate(c for c in candidates if c.name in weights):
        folder = Path("members") / f"{i}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', c.name)}"
        (out / folder).mkdir(parents=True)
        file = folder / Path(c.path).name
        shutil.copy2(c.path, out / file)
        members.append({"name": c.name, "kind": c.kind, "weight": weights[c.name], "path": str(file)})
    data = OmegaConf.to_container(OmegaConf.create(base).data, resolve=True)
    write_ensemble(out, members, label_names, data, scores)
    (out / "metrics.json").write_text(json.dumps(scores, indent=2) + "\n")
