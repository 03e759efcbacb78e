"""Baselines (bag of embeddings, CNN, BiLSTM): the model contract, padding, gradients, config errors."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.models.baselines import BiLSTMClassifier, BowClassifier, CNNClassifier

CONF_MODEL = Path(__file__).resolve().parents[2] / "conf" / "model"
V, C, CLS = 50, 3, 2

FAMILIES = {
    "bow": (BowClassifier, {}),
    "bow_bigrams": (BowClassifier, {"bigram_buckets": 64}),
    "bow_linear": (BowClassifier, {"hidden_dim": 0}),
    "cnn": (CNNClassifier, {}),
    "bilstm": (BiLSTMClassifier, {}),
    "bilstm_2_layers": (BiLSTMClassifier, {"num_layers": 2}),
}


def build(name: str, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    cls, hparams = FAMILIES[name]
    return cls(vocab_size=V, num_classes=C, **{"embed_dim": 16, **hparams, **overrides})


def sequences(lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    """Token ids starting with [CLS], real tokens drawn from 4..V-1 (never the pad id 0)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.cat([torch.tensor([CLS]), torch.randint(4, V, (n - 1,), generator=g)]) for n in lengths]


def batch(seqs: list[torch.Tensor], total: int | None = None, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to ``total`` (default: the longest) -> ids (B, T), mask (B, T) bool."""
    T = total or max(len(s) for s in seqs)
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
    mask = torch.arange(T) < torch.tensor([len(s) for s in seqs])[:, None]
    return ids, mask


@pytest.mark.parametrize("name", FAMILIES)
def test_logits_shape(name):
    ids, mask = batch(sequences([9, 4, 1]))
    assert build(name)(ids, mask).shape == (3, C)


@pytest.mark.parametrize("name", FAMILIES)
def test_padding_is_ignored(name):
    model = build(name).eval()
    seqs = sequences([9, 4, 2, 1])
    with torch.no_grad():
        alone = torch.cat([model(*batch([s])) for s in seqs])  # no padding at all
        padded = model(*batch(seqs))
        extra = model(*batch(seqs, total=20))
        ids, mask = batch(seqs, total=20)
        garbage = model(ids.masked_fill(~mask, 7), mask)  # masked positions ignored whatever their ids
    for other in (padded, extra, garbage):
        torch.testing.assert_close(other, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_gradient_reaches_every_parameter(name):
    model = build(name).train()
    ids, mask = batch(sequences([9, 6, 3, 2]))
    torch.nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 1, 2, 0])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
    assert model.embedding.weight.grad[0].abs().sum() == 0  # the padding row never trains


def test_bigrams_make_bag_of_embeddings_order_sensitive():
    seq = sequences([8])[0]
    shuffled = torch.cat([seq[:1], seq[1:].flip(0)])  # same bag of words, other order ([CLS] first)
    for buckets, order_matters in ((0, False), (64, True)):
        model = build("bow", bigram_buckets=buckets).eval()
        with torch.no_grad():
            a, b = model(*batch([seq])), model(*batch([shuffled]))
        assert (not torch.allclose(a, b, atol=1e-4)) == order_matters, buckets


def test_bigram_ids_are_buckets_of_token_pairs():
    model = build("bow_bigrams")
    ids = torch.tensor([[2, 5, 9, 5, 9, 0]])
    h = model.bigram_ids(ids)  # (1, 5)
    assert h.shape == (1, 5) and 0 <= h.min() and h.max() < 64
    assert h[0, 1] == h[0, 3]  # (5, 9) twice: same bucket
    # 39 distinct pairs in 1000 buckets: ~38 distinct buckets if hashed well (a linear hash gave 8)
    spread = build("bow", bigram_buckets=1000).bigram_ids(torch.arange(40)[None])  # (1, 39)
    assert len(set(spread[0].tolist())) >= 35


@pytest.mark.parametrize("length", [1, 2, 4])
def test_cnn_handles_sequences_shorter_than_its_kernels(length):
    model = build("cnn", kernel_sizes=[3, 5]).eval()
    seq = sequences([length])
    with torch.no_grad():
        out = model(*batch(seq))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, model(*batch(seq, total=12)))


def test_cnn_window_reads_neighbouring_tokens():
    # Max-over-time of width-3 windows: changing the last real token changes the windows that contain it.
    model = build("cnn", kernel_sizes=[3]).eval()
    seq = sequences([6])[0]
    changed = seq.clone()
    changed[-1] = 4 if seq[-1] != 4 else 5
    with torch.no_grad():
        assert not torch.allclose(model(*batch([seq])), model(*batch([changed])))


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        ("cnn", {"kernel_sizes": []}, "model: kernel_sizes must be non-empty"),
        ("cnn", {"kernel_sizes": [3, 0]}, "kernel_sizes must all be >= 1"),
        ("cnn", {"num_filters": 0}, "num_filters must be >= 1"),
        ("bow", {"bigram_buckets": -1}, "bigram_buckets must be >= 0"),
        ("bow", {"hidden_dim": -1}, "hidden_dim must be >= 0"),
        ("bilstm", {"hidden_dim": 0}, "hidden_dim must be >= 1"),
        ("bilstm", {"num_layers": 0}, "num_layers must be >= 1"),
        ("bilstm", {"dropout": 1.0}, "dropout must be in [0, 1)"),
        ("bow", {"embed_dim": 0}, "embed_dim must be >= 1"),
        ("cnn", {"pad_token_id": V}, "pad_token_id must be in [0, vocab_size)"),
        ("cnn", {"pretrained_embeddings": "word2vec"}, "unknown pretrained_embeddings 'word2vec'"),
    ],
)
def test_invalid_hyperparameters_raise_config_error(name, overrides, message):
    with pytest.raises(ConfigError) as exc:
        build(name, **overrides)
    text = str(exc.value)
    assert text.startswith("model: ") and message.removeprefix("model: ") in text and "\n" not in text


def test_num_classes_and_vocab_size_are_checked():
    with pytest.raises(ConfigError, match="num_classes must be >= 2"):
        CNNClassifier(vocab_size=V, num_classes=1)
    with pytest.raises(ConfigError, match="vocab_size must be >= 2"):
        BowClassifier(vocab_size=1, num_classes=2)


@pytest.mark.parametrize("family", ["bow", "cnn", "bilstm"])
def test_yaml_instantiates_the_model_with_its_defaults(family):
    node = OmegaConf.load(CONF_MODEL / f"{family}.yaml")
    model = hydra.utils.instantiate(node, vocab_size=V, num_classes=C)
    assert model.config.vocab_size == V and model.config.num_classes == C
    for key, value in node.items():
        if key != "_target_":
            assert getattr(model.config, key) == value, key
    with torch.device("meta"):  # how build.validate_config checks a config without building weights
        hydra.utils.instantiate(node, vocab_size=V, num_classes=C)
