"""AttentionClassifier: padding invariance, attention maps, config validation, pooling, training smoke."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.models.encoder import AttentionClassifier, EncoderConfig, EncoderOutput
from attentune.models.heads import POOLING_KINDS, Pooler
from attentune.models.positional import POSITIONAL_KINDS

V, C = 50, 3
TINY = dict(d_model=16, num_heads=2, num_layers=2, max_length=32)
MHA_YAML = Path(__file__).resolve().parents[2] / "conf" / "model" / "mha.yaml"


def _model(**kwargs) -> AttentionClassifier:
    torch.manual_seed(0)
    return AttentionClassifier(V, C, **{**TINY, **kwargs}).eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    ids = torch.randint(1, V, (3, 8))
    mask = torch.ones_like(ids)
    mask[1, 5:], mask[2, 2:] = 0, 0
    return ids.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("positional", POSITIONAL_KINDS)
@pytest.mark.parametrize("pooling", POOLING_KINDS)
def test_appending_padding_does_not_change_logits(positional: str, pooling: str) -> None:
    model = _model(positional=positional, pooling=pooling)
    if pooling == "attention":
        torch.nn.init.normal_(model.pooler.query)  # zero at init would hide masking bugs
    ids, mask = _batch()
    logits = model(ids, mask)
    padded_ids = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(padded_ids, padded_mask), logits, rtol=1e-5, atol=1e-5)
    # each sequence alone, cut to its real tokens, gives the same logits as inside the padded batch
    for i, n in enumerate(mask.sum(1).tolist()):
        alone = model(ids[i : i + 1, :n], mask[i : i + 1, :n])
        torch.testing.assert_close(alone, logits[i : i + 1], rtol=1e-5, atol=1e-5)


def test_return_attention_gives_per_layer_maps_with_zero_weight_on_padding() -> None:
    model = _model(num_layers=3)
    ids, mask = _batch()
    out = model(ids, mask, return_attention=True)
    assert isinstance(out, EncoderOutput) and out.logits.shape == (3, C)
    assert len(out.attentions) == 3
    pad = mask == 0
    for weights in out.attentions:
        assert weights.shape == (3, 2, 8, 8)  # (B, H, T, T)
        assert (weights.masked_select(pad[:, None, None, :].expand_as(weights)) == 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 8))
    # the explicit path that produced the maps gives the same logits as the SDPA path
    torch.testing.assert_close(out.logits, model(ids, mask), rtol=1e-5, atol=1e-5)


def test_missing_attention_mask_means_pad_token_is_padding() -> None:
    model = _model()
    ids, mask = _batch()
    torch.testing.assert_close(model(ids), model(ids, mask))
    torch.testing.assert_close(model(ids, mask.bool()), model(ids, mask))
    with torch.inference_mode():  # how evaluation and latency runs call it
        torch.testing.assert_close(model(ids, mask), model(ids, mask, return_attention=True).logits)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(d_model=250, num_heads=8), "model: d_model=250 is not divisible by num_heads=8"),
        (dict(dropout=1.0), r"model: dropout must be in \[0, 1\), got 1.0"),
        (dict(dropout=-0.1), r"model: dropout must be in \[0, 1\)"),
        (dict(attention_dropout=1.5), r"model: attention_dropout must be in \[0, 1\)"),
        (dict(num_layers=0), "model: num_layers must be a positive integer, got 0"),
        (dict(d_model=-16), "model: d_model must be a positive integer"),
        (dict(max_length=0), "model: max_length must be a positive integer"),
        (dict(ffn_ratio=0.0), "model: ffn_ratio must give d_model [*] ffn_ratio >= 1, got 0.0"),
        (dict(positional="alibi"), "model: unknown positional='alibi'; choose one of sinusoidal, learned"),
        (dict(pooling="sum"), "model: unknown pooling='sum'; choose one of cls, mean, max, attention"),
        (dict(attention_backend="flash"), "model: unknown attention_backend='flash'"),
        (dict(pad_token_id=V), "model: pad_token_id=50 is outside"),
        (dict(d_model=6, num_heads=2, positional="rope"), "needs an even head dim, got 3"),
        (dict(head_hidden_dim=0), "model: head_hidden_dim must be a positive integer or null"),
    ],
)
def test_invalid_config_raises_one_clear_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AttentionClassifier(V, C, **{**TINY, **kwargs})


def test_num_classes_and_vocab_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="num_classes must be >= 2"):
        AttentionClassifier(V, 1)
    with pytest.raises(ConfigError, match="vocab_size must be a positive integer"):
        AttentionClassifier(0, C)


def test_the_model_is_built_from_its_config_and_unknown_parameters_are_one_line() -> None:
    model = AttentionClassifier(V, C)
    assert model.config == EncoderConfig(V, C)  # the config's defaults, not a restated copy of them
    with pytest.raises(ConfigError, match="model: mha has no parameter num_head \\(it takes "):
        AttentionClassifier(V, C, num_head=4)


def test_mha_yaml_instantiates_with_top_level_sizes() -> None:
    cfg = OmegaConf.create({"d_model": 32, "heads": 4, "layers": 3, "max_length": 64})
    cfg.model = OmegaConf.load(MHA_YAML)
    model = hydra.utils.instantiate(cfg.model, vocab_size=V, num_classes=C)
    assert isinstance(model, AttentionClassifier)
    c = model.config
    assert (c.d_model, c.num_heads, c.num_layers, c.max_length) == (32, 4, 3, 64)
    assert model(*_batch()).shape == (3, C)


def test_pooler_by_hand() -> None:
    hidden = torch.tensor([[[1.0, -1.0], [3.0, 5.0], [100.0, 100.0]]])  # (1, 3, 2), last token padding
    pad = torch.tensor([[False, False, True]])
    torch.testing.assert_close(Pooler("cls", 2)(hidden, pad), torch.tensor([[1.0, -1.0]]))
    torch.testing.assert_close(Pooler("mean", 2)(hidden, pad), torch.tensor([[2.0, 2.0]]))
    torch.testing.assert_close(Pooler("max", 2)(hidden, pad), torch.tensor([[3.0, 5.0]]))
    attn = Pooler("attention", 2)  # zero query: uniform over real tokens
    torch.testing.assert_close(attn(hidden, pad), torch.tensor([[2.0, 2.0]]))
    all_pad = torch.ones(1, 3, dtype=torch.bool)
    for kind in ("mean", "max", "attention"):
        torch.testing.assert_close(Pooler(kind, 2)(hidden, all_pad), torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="unknown pooling"):
        Pooler("sum", 2)


@pytest.mark.parametrize("positional", ["sinusoidal", "rope"])
def test_every_linear_layer_is_called_so_forward_hooks_see_it(positional: str) -> None:
    model = _model(positional=positional)
    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    called: list[str] = []
    for name, module in linears.items():
        module.register_forward_hook(lambda m, args, out, name=name: called.append(name))
    model(*_batch())
    assert sorted(called) == sorted(linears)  # each once: qkv, out, fc1, fc2 per layer and the head
    assert {n.rsplit(".", 1)[-1] for n in linears} >= {"qkv_proj", "out_proj", "fc1", "fc2"}


@pytest.mark.parametrize("backend", ["sdpa", "explicit"])
def test_bf16_autocast_training_step_is_close_to_fp32(backend: str) -> None:
    model = _model(attention_backend=backend)
    ids, mask = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(ids, mask)
    low.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    torch.testing.assert_close(low.float(), model(ids, mask), rtol=0.1, atol=0.1)


@pytest.mark.parametrize("positional", ["sinusoidal", "rope"])
def test_a_few_training_steps_learn_a_toy_task(positional: str) -> None:
    """Label = whether token 7 occurs; trained with dropout and padding, as in real use."""
    torch.manual_seed(0)
    model = AttentionClassifier(V, 2, **{**TINY, "positional": positional, "dropout": 0.1})
    ids = torch.randint(8, V, (64, 12))
    labels = torch.randint(0, 2, (64,))
    ids[labels == 1, torch.randint(0, 6, (int(labels.sum()),))] = 7
    mask = torch.ones_like(ids)
    mask[::2, 6:] = 0
    ids = ids.masked_fill(mask == 0, 0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(40):
        loss = F.cross_entropy(model(ids, mask), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 < losses[0]
    assert (model.encoder.embed_tokens.weight[0] == 0).all()  # padding row never trained
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
