"""explain.py end to end on a trained checkpoint: one text, a split with faithfulness and heads, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from attentune.interpret.explain import explain_examples
from attentune.interpret.methods import METHODS
from attentune.interpret.target import Example, Vocabulary
from attentune.models.baselines import CNNClassifier
from conftest import QA_TINY, REPO

BROWSER = shutil.which("chromium-headless-shell") or shutil.which("chromium")


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    proc = cli("src/train.py", "experiment=tiny", "data=trec", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run / "checkpoints" / "best.ckpt"


def test_one_text_gets_every_method_a_report_and_its_figures(ckpt, tmp_path):
    proc = cli(
        "src/explain.py", f"ckpt_path={ckpt}", "text=What is the capital of France ?", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "explanation.json").read_text())
    assert set(summary["seconds"]) == {*METHODS, "total"}
    assert summary["ig"]["relative_delta"][0] < 0.05
    html = (tmp_path / "report.html").read_text()
    assert "Why " in html and "Attention, every layer and head" in html and html.count("data:image/png;base64,") == 2
    assert (tmp_path / "scores.png").stat().st_size > 0 and (tmp_path / "attention.png").stat().st_size > 0


@pytest.fixture(scope="module")
def split_run(ckpt, tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("split")
    proc = cli("src/explain.py", f"ckpt_path={ckpt}", "n=24", "heads_examples=40",
               f"output={tmp_path / 'explanations.jsonl'}", f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp_path


def test_a_split_gets_faithfulness_heads_and_its_attributions_as_jsonl(split_run):
    tmp_path = split_run
    out = tmp_path / "explanations.jsonl"
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 24
    for r in records:
        assert set(r["scores"]) == set(METHODS)
        assert all(len(s) == len(r["tokens"]) for s in r["scores"].values())
        assert r["label"] is not None and r["pred"] in {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    summary = json.loads((tmp_path / "run" / "explanation.json").read_text())
    rows = {row["method"]: row for row in summary["faithfulness"]}
    assert set(rows) == set(METHODS)
    mean, lo, hi = rows["integrated_gradients"]["comprehensiveness/deletion"]
    assert lo <= mean <= hi
    assert len(summary["heads"]["importance"]) == 1 and len(summary["heads"]["importance"][0]) == 2  # tiny: 1 x 2
    html = (tmp_path / "run" / "report.html").read_text()
    for section in ("Faithfulness", "Integrated gradients convergence", "Head importance", "Tokens that weigh most"):
        assert section in html
    assert re.search(r"integrated_gradients (beats|does)", html)


@pytest.mark.skipif(BROWSER is None, reason="no chromium: make test installs chromium-headless-shell as root")
def test_the_report_renders_with_every_figure_in_a_real_browser(split_run):
    dom = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom",
         (split_run / "run" / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    decoded, total = map(int, re.search(r'<body data-images="(\d+)/(\d+)"', dom).groups())
    assert total >= 1 and decoded == total  # the onload check ran, and every embedded PNG decoded
    assert "<h2>Faithfulness</h2>" in dom


def test_bad_input_is_one_line_and_exit_2_and_never_overwrites(ckpt, tmp_path):
    out = tmp_path / "kept.jsonl"
    out.write_text("earlier results\n")
    cases = [
        ([f"output={out}", "n=4"], "error: output: .* exists"),
        (["methods=[integrated_gradients,shap]", "n=4"], "error: methods: unknown method 'shap'"),
        (["text= "], "error: text: empty"),
        (["split=dev"], "error: split must be one of train, val, test"),
        (["question=Who?", "context=Me."], "error: question/context: this checkpoint classifies texts"),
    ]
    for extra, message in cases:
        proc = cli("src/explain.py", f"ckpt_path={ckpt}", *extra, f"hydra.run.dir={tmp_path / 'run'}")
        assert proc.returncode == 2 and re.search(message, proc.stderr), proc.stderr[-1000:]
        assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_text() == "earlier results\n"


def test_a_family_without_attention_skips_the_attention_methods_and_says_why():
    torch.manual_seed(0)
    model = CNNClassifier(30, 2, embed_dim=8, num_filters=4, kernel_sizes=[2, 3]).eval()
    examples = [Example("", [2, 5, 6, 7], ["[CLS]", "a", "b", "c"], [True, False, False, False])]
    ex = explain_examples(model, examples, Vocabulary(pad=0, unk=1))
    assert set(ex.scores) == {"integrated_gradients", "gradient_x_input", "leave_one_out", "random"}
    assert ex.skipped == {"attention": "this model has no attention", "rollout": "this model has no attention"}


@pytest.mark.slow
def test_a_qa_checkpoint_explains_what_its_answer_rests_on(tmp_path):
    run = tmp_path / "qa"
    proc = cli("src/train.py", *QA_TINY, "model=mha", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = run / "checkpoints" / "best.ckpt"
    context = "The company was founded in 1998 by two students. It now employs 300 people in London."
    q = "question=When was the company founded?"
    proc = cli("src/explain.py", f"ckpt_path={ckpt}", q, f"context={context}", f"hydra.run.dir={tmp_path / 'ex'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "ex" / "explanation.json").read_text())
    first, last = summary["span"]
    assert summary["answer"] and summary["answer"] in context and first <= last
    assert summary["tokens"][0] == "[CLS]" and summary["tokens"].count("[SEP]") == 2
    ig = summary["scores"]["integrated_gradients"][0]
    assert ig[0] == 0 and summary["ig"]["relative_delta"][0] < 0.05  # [CLS] kept in the baseline; converged
    assert set(summary["scores"]) == {"integrated_gradients", "gradient_x_input", "attention", "rollout", "random"}
    html = (tmp_path / "ex" / "report.html").read_text()
    assert "What the answer rests on" in html and "leave_one_out: not defined for spans" in html
    wrong = cli("src/explain.py", f"ckpt_path={ckpt}", "text=hello", f"hydra.run.dir={tmp_path / 'bad'}")
    assert wrong.returncode == 2 and "give question=... and context=..." in wrong.stderr
