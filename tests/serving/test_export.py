"""ONNX export: every family's graph against PyTorch, the export command's parity check, int8, ensembles, and an
export directory that predicts without the checkpoint it came from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from attentune.errors import AttentuneError
from attentune.serving.export import export
from attentune.serving.exported import session
from attentune.serving.graph import export_graph
from attentune.serving.predict import predict
from attentune.serving.predictor import load_predictor
from attentune.tasks.build import make_model
from attentune.tasks.classification.ensemble import write_ensemble
from attentune.tasks.classification.reference import tfidf_reference
from attentune.tasks.instantiate import instantiate
from attentune.tasks.train import train
from conftest import QA_TINY, REPO, TINY, compose_config

FAMILIES = {  # name -> overrides of a tiny model: each family, each positional encoding, both attention paths
    "mha-sinusoidal": ["model=mha", "model.pretrained_embeddings=null"],
    "mha-learned-cls": [
        "model=mha",
        "model.pretrained_embeddings=null",
        "model.positional=learned",
        "model.pooling=cls",
    ],
    "mha-rope-attention-pool": [
        "model=mha",
        "model.pretrained_embeddings=null",
        "model.positional=rope",
        "model.pooling=attention",
    ],
    "mha-none-sdpa": [
        "model=mha",
        "model.pretrained_embeddings=null",
        "model.positional=none",
        "model.attention_backend=sdpa",
    ],
    "bow-bigrams": ["model=bow", "model.bigram_buckets=64", "model.pretrained_embeddings=null"],
    "cnn": ["model=cnn", "model.pretrained_embeddings=null"],
    "bilstm-2-layers": ["model=bilstm", "model.num_layers=2", "model.pretrained_embeddings=null"],
    "minilm": ["model=minilm"],
}
SPAN = {"mha-span": ["model=mha", "model.pretrained_embeddings=null"], "minilm-span": ["model=minilm"]}
SLOW = {"minilm", "minilm-span"}  # 10 s each: make test-slow


def batches(vocab: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Sizes other than the export's example (2 x 16), right-padded rows, and a batch with no padding at all."""
    g = torch.Generator().manual_seed(0)
    out = []
    for B, T in ((1, 3), (5, 27), (64, 9)):
        ids = torch.randint(5, vocab, (B, T), generator=g)
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        lengths[0] = T
        mask = torch.arange(T)[None, :] < lengths[:, None]
        out.append((ids.masked_fill(~mask, 0), mask))
    ids = torch.randint(5, vocab, (3, 11), generator=g)
    out.append((ids, torch.ones_like(ids, dtype=torch.bool)))
    return out


def check_graph(tmp_path, overrides: list[str], span: bool) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    task = QA_TINY[:2] if span else []
    cfg = compose_config("train", TINY + task + overrides, tmp_path)
    torch.manual_seed(0)
    vocab = 30522 if "model=minilm" in overrides else 400  # MiniLM keeps its own vocabulary
    model = make_model(cfg.model, vocab, 2 if span else 3).eval()
    file = tmp_path / "model.onnx"
    export_graph(model, file, span, overrides[0])
    graph = session(file, threads=1)
    for ids, mask in batches(vocab):
        types = (torch.arange(ids.shape[1])[None, :] > 2).long().expand_as(ids) * mask
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        with torch.inference_mode():
            expected = model(ids, mask, token_type_ids=types if span else None).float()
        got = graph.run(None, {i.name: feed[i.name].numpy() for i in graph.get_inputs()})[0]
        assert got.shape == tuple(expected.shape)
        real = mask if span else torch.ones(ids.shape[0], dtype=torch.bool)  # span logits at padding are unused
        np.testing.assert_allclose(got[real.numpy()], expected[real].numpy(), atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("family", [pytest.param(f, marks=[pytest.mark.slow] if f in SLOW else []) for f in FAMILIES])
def test_every_family_exports_with_dynamic_batch_and_length_and_matches_pytorch(tmp_path, family):
    check_graph(tmp_path, FAMILIES[family], span=False)


@pytest.mark.parametrize("family", [pytest.param(f, marks=[pytest.mark.slow] if f in SLOW else []) for f in SPAN])
def test_span_heads_export_with_segment_ids(tmp_path, family):
    check_graph(tmp_path, SPAN[family], span=True)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    out = tmp_path_factory.mktemp("cls")
    train(compose_config("train", TINY, out))
    return out


def export_cfg(ckpt, out, *overrides):
    return compose_config("export", [f"ckpt_path={ckpt}", f"output={out}", *overrides], out.parent)


def predict_cfg(ckpt, tmp_path, *overrides):
    return compose_config("predict", [f"ckpt_path={ckpt}", *overrides], tmp_path)


def test_export_checks_the_whole_test_split_and_predicts_without_the_checkpoint(classifier, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(classifier, run)
    out = tmp_path / "export"
    report = export(export_cfg(run / "checkpoints" / "best.ckpt", out, "quantize=int8"))
    data = instantiate(compose_config("train", TINY, tmp_path).data, "data")
    parity = report["parity"]
    assert parity["examples"] == len(data.test.texts)  # the whole split, not a sample
    assert parity["fp32"]["ok"] and parity["fp32"]["mismatches"] == 0 and parity["fp32"]["max_diff"] <= 1e-4
    assert parity["score"]["fp32"] == parity["score"]["torch"]
    assert 0 <= parity["int8"]["mismatches"] <= parity["examples"] and "int8_drop_points" in parity
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "labels.json",
        "model.int8.onnx",
        "model.onnx",
        "tokenizer.json",
    ]
    assert report["sizes_mb"]["int8"] < report["sizes_mb"]["fp32"]
    texts = data.test.texts[:40]
    pd.DataFrame({"id": range(40), "text": texts}).to_csv(tmp_path / "in.csv", index=False)
    torch_out = predict(predict_cfg(run, tmp_path, f"input={tmp_path}/in.csv", f"output={tmp_path}/torch.csv"))
    assert torch_out["rows"] == 40
    shutil.rmtree(run)  # the export alone from here on
    predict(
        predict_cfg(
            out, tmp_path, f"input={tmp_path}/in.csv", f"output={tmp_path}/onnx.csv", "backend=onnx", "quantize=fp32"
        )
    )
    a, b = pd.read_csv(tmp_path / "torch.csv"), pd.read_csv(tmp_path / "onnx.csv")
    assert list(a.columns) == list(b.columns) and (a["pred"] == b["pred"]).all()
    probs = [c for c in a.columns if c.startswith("prob_")]
    np.testing.assert_allclose(a[probs].to_numpy(), b[probs].to_numpy(), atol=1e-4)
    (one,) = predict(predict_cfg(out, tmp_path, "text='a gripping film'", "backend=onnx"))  # the default graph: int8
    assert one["pred"] in json.loads((out / "labels.json").read_text())
    with pytest.raises(AttentuneError, match="is an ONNX export"):
        predict(predict_cfg(out, tmp_path, "text=hello"))


def test_a_checkpoint_predicts_through_onnx_and_benchmarks_three_backends(classifier, tmp_path, capsys):
    ckpt = classifier / "checkpoints" / "best.ckpt"
    texts = ["a gripping film", "dull and far too long", "the plot was fine"]
    torch_out = [predict(predict_cfg(ckpt, tmp_path, f"text='{t}'"))[0] for t in texts]
    onnx_out = [predict(predict_cfg(ckpt, tmp_path, f"text='{t}'", "backend=onnx"))[0] for t in texts]
    for a, b in zip(torch_out, onnx_out, strict=True):
        assert a["pred"] == b["pred"]
        assert max(abs(a[k] - b[k]) for k in a if k.startswith("prob_")) < 1e-4
    result = predict(predict_cfg(ckpt, tmp_path, "benchmark=true", "benchmark_options.calls=5"))
    assert list(result["backends"]) == ["torch", "onnx fp32", "onnx int8"]
    for name, row in result["backends"].items():
        assert row["b1"]["p50_ms"] > 0 and row["b64"]["p95_ms"] >= row["b64"]["p50_ms"], name
    assert result["backends"]["onnx fp32"]["score"] == result["backends"]["torch"]["score"]
    assert "onnx int8" in capsys.readouterr().out


@pytest.mark.slow  # trains and exports a QA model, about 21 s: make test-slow
def test_a_qa_export_gives_the_same_answers(tmp_path):
    run = tmp_path / "qa"
    train(compose_config("train", [*QA_TINY, "model=mha", "d_model=16", "heads=2", "layers=1"], run))
    out = tmp_path / "export"
    report = export(export_cfg(run, out))
    assert report["task"] == "qa" and not (out / "labels.json").exists()
    assert report["parity"]["fp32"]["mismatches"] == 0 and report["parity"]["examples"] > 100
    context = "The band was formed in London in 1998. Its first album sold 300,000 copies."
    given = ["question='When was the band formed?'", f"context='{context}'"]
    (a,) = predict(predict_cfg(run, tmp_path, *given))
    (b,) = predict(predict_cfg(out, tmp_path, *given, "backend=onnx"))
    assert (a["answer"], a["answer_start"], a["no_answer"]) == (b["answer"], b["answer_start"], b["no_answer"])


@pytest.mark.slow  # about 13 s: make test-slow
def test_an_ensemble_with_the_reference_exports_each_member_and_predicts_the_same(classifier, tmp_path):
    cfg = compose_config("train", TINY, tmp_path)
    data = instantiate(cfg.data, "data")
    best = tmp_path / "best"
    tfidf_reference(data, out=best / "members" / "reference")
    (best / "members" / "mha").mkdir(parents=True)
    shutil.copy2(classifier / "checkpoints" / "best.ckpt", best / "members" / "mha" / "best.ckpt")
    members = [
        {"name": "reference", "kind": "reference", "weight": 0.7, "path": "members/reference/model.joblib"},
        {"name": "mha", "kind": "checkpoint", "weight": 0.3, "path": "members/mha/best.ckpt"},
    ]
    from omegaconf import OmegaConf

    write_ensemble(best, members, data.label_names, OmegaConf.to_container(cfg.data, resolve=True), {})
    out = tmp_path / "export"
    report = export(export_cfg(best, out))
    assert report["parity"]["fp32"]["ok"] and report["parity"]["examples"] == len(data.test.texts)
    assert {m["kind"] for m in report["members"]} == {"onnx", "reference-onnx"}
    assert (out / "members" / "reference" / "linear.onnx").is_file()
    texts = data.test.texts[:50]
    a = load_predictor(best, 64).predict([{"text": t} for t in texts])
    b = load_predictor(out, 64, "onnx").predict([{"text": t} for t in texts])
    assert [r["pred"] for r in a] == [r["pred"] for r in b]


def test_bad_exports_are_one_line_errors_and_leave_earlier_results(classifier, tmp_path):
    ckpt = classifier / "checkpoints" / "best.ckpt"
    out = tmp_path / "export"
    export(export_cfg(ckpt, out, "parity=false"))
    before = (out / "model.onnx").stat().st_mtime_ns
    with pytest.raises(AttentuneError, match="exists"):
        export(export_cfg(ckpt, out))
    with pytest.raises(AttentuneError, match="format=tflite"):
        export(export_cfg(ckpt, tmp_path / "x", "format=tflite"))
    with pytest.raises(AttentuneError, match="quantize=int4"):
        export(export_cfg(ckpt, tmp_path / "x", "quantize=int4"))
    with pytest.raises(AttentuneError, match="backend=tensorrt"):
        predict(predict_cfg(out, tmp_path, "text=hi", "backend=tensorrt"))
    with pytest.raises(AttentuneError, match="quantize=int8"):  # this export has no int8 graph
        predict(predict_cfg(out, tmp_path, "text=hi", "backend=onnx", "quantize=int8"))
    assert (out / "model.onnx").stat().st_mtime_ns == before and not (tmp_path / "x").exists()
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "labels.json").unlink()
    with pytest.raises(AttentuneError, match="lacks labels.json"):
        predict(predict_cfg(broken, tmp_path, "text=hi", "backend=onnx"))
    (broken / "labels.json").write_text('["a", "b", "c", "d", "e"]')
    (broken / "tokenizer.json").unlink()
    with pytest.raises(AttentuneError, match="lacks tokenizer.json"):
        predict(predict_cfg(broken, tmp_path, "text=hi", "backend=onnx"))
    shutil.copy2(out / "tokenizer.json", broken / "tokenizer.json")
    with pytest.raises(AttentuneError, match="different exports"):  # labels of another model
        predict(predict_cfg(broken, tmp_path, "text=hi", "backend=onnx"))
    # the command line: one line, exit 2
    proc = subprocess.run(
        [sys.executable, str(REPO / "src" / "export.py"), f"ckpt_path={ckpt}", f"output={out}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: output: {out} exists; choose another directory or pass overwrite=true to replace it"
    ]


@pytest.mark.slow  # two exports, one of them in a fresh process, about 30 s: make test-slow
def test_a_second_bilstm_in_one_process_still_gets_dynamic_axes(tmp_path):
    # torch 2.13 fixes the sequence axis of a second BiLSTM traced in one process; export_graph exports it again
    # in a fresh process: both graphs must take any length
    for seed in (0, 1):
        check_graph(tmp_path / str(seed), ["model=bilstm", "model.pretrained_embeddings=null"], span=False)
