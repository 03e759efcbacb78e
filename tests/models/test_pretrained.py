"""Pretrained MiniLM: offline loading, sentence-transformers pooling, the model contract, Hydra wiring."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from tokenizers import Tokenizer
from transformers import AutoModel

from attentune.errors import ConfigError
from attentune.models.encoder import EncoderOutput
from attentune.models.pretrained import MiniLMClassifier, minilm_dir
from conftest import compose_config

VOCAB = 30522


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    tok = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def model() -> MiniLMClassifier:
    torch.manual_seed(0)
    return MiniLMClassifier(vocab_size=VOCAB, num_classes=3).eval()


def encode(tok: Tokenizer, texts: list[str], total: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and bool mask (B, T); T = ``total`` or the longest."""
    rows = [tok.encode(t).ids for t in texts]
    T = total or max(map(len, rows))
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, ids != 0


def test_loads_offline_in_a_fresh_process(tmp_path):
    # Any attempt to reach the hub would go to a dead proxy and fail instead of silently downloading.
    dead = "http://127.0.0.1:9"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HTTPS_PROXY": dead,
        "HTTP_PROXY": dead,
        "HF_HOME": str(tmp_path),
    }
    code = "from attentune.models.pretrained import MiniLMClassifier as M; print(M(30522, 2).config.max_length)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "128"


def test_mean_pooling_matches_a_direct_transformers_computation(model, tokenizer):
    ids, mask = encode(tokenizer, ["A man is playing a guitar.", "Hello!"])
    reference = AutoModel.from_pretrained(minilm_dir(), local_files_only=True).eval()
    with torch.no_grad():
        hidden = reference(input_ids=ids, attention_mask=mask.long()).last_hidden_state  # (B, T, H)
        m = mask.unsqueeze(-1).float()
        expected = (hidden * m).sum(1) / m.sum(1)
        got = model.encode(ids, mask)
    assert got.shape == (2, 384)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_weights_are_the_pretrained_sentence_encoder(model, tokenizer):
    texts = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The stock market fell sharply today.",
    ]
    with torch.no_grad():
        e = torch.nn.functional.normalize(model.encode(*encode(tokenizer, texts)), dim=-1)
    similar, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    assert similar > 0.6 and unrelated < 0.3, (similar, unrelated)  # random weights give ~equal values


def test_logits_ignore_padding(model, tokenizer):
    texts = ["a truly wonderful film", "bad", "it was fine I guess, nothing special"]
    with torch.no_grad():
        alone = torch.cat([model(*encode(tokenizer, [t])) for t in texts])
        padded = model(*encode(tokenizer, texts, total=24))
    assert padded.shape == (3, 3)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_return_attention_gives_per_layer_weights_and_the_same_logits(model, tokenizer):
    ids, mask = encode(tokenizer, ["a truly wonderful film", "bad"])  # (2, T), second row padded
    with torch.no_grad():
        logits = model(ids, mask)
        out = model(ids, mask, return_attention=True)
    assert isinstance(out, EncoderOutput) and len(out.attentions) == 6
    T = ids.shape[1]
    for a in out.attentions:
        assert a.shape == (2, 12, T, T)
        torch.testing.assert_close(a.sum(-1), torch.ones(2, 12, T))
        assert (a[1, :, :, ~mask[1]] == 0).all()  # no attention to padded keys
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    assert model.encoder.config._attn_implementation == "sdpa"  # the eager switch was for that call only


def test_fine_tuning_reaches_every_parameter(tokenizer):
    model = MiniLMClassifier(vocab_size=VOCAB, num_classes=2)
    assert all(m.training for m in model.modules())  # like any new module (Lightning will not call .train())
    ids, mask = encode(tokenizer, ["good", "not good at all"])
    torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 1])).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == [], missing


def test_frozen_encoder_trains_the_head_only(tokenizer):
    model = MiniLMClassifier(vocab_size=VOCAB, num_classes=2, freeze_encoder=True).train()
    assert not model.encoder.training and model.dropout.training  # frozen encoder: no dropout noise
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize(
    ("hparams", "message"),
    [
        ({"vocab_size": 8000}, "minilm needs its own tokenizer (vocab_size 30522), got vocab_size 8000"),
        ({"max_length": 1024}, "minilm needs 2 <= max_length <= 512, got 1024"),
        ({"pad_token_id": 3}, "minilm pads with id 0"),
        ({"dropout": -0.1}, "dropout must be in [0, 1)"),
    ],
)
def test_invalid_hyperparameters_raise_config_error(hparams, message):
    kwargs = {"vocab_size": VOCAB, "num_classes": 2, **hparams}
    with torch.device("meta"), pytest.raises(ConfigError) as exc:
        MiniLMClassifier(**kwargs)
    assert str(exc.value).startswith("model: ") and message in str(exc.value)


def test_builds_on_the_meta_device_for_config_validation():
    with torch.device("meta"):
        model = MiniLMClassifier(vocab_size=VOCAB, num_classes=2)
    assert next(model.parameters()).device.type == "meta"


def test_choosing_minilm_also_chooses_its_tokenizer(tmp_path):
    cfg = compose_config("train", ["model=minilm", "max_length=64"], tmp_path)
    assert cfg.tokenizer.kind == "minilm" and cfg.tokenizer.vocab_size == VOCAB
    assert cfg.model.max_length == 64
    assert compose_config("train", ["model=cnn"], tmp_path).tokenizer.kind != "minilm"
