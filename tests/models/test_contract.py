"""Every model family keeps the model contract (``attentune.models.contract``)."""

from __future__ import annotations

import pytest
import torch
from omegaconf import open_dict
from torch import nn

from attentune.errors import ConfigError
from attentune.models.contract import TextModel
from attentune.tasks.build import make_model
from conftest import compose_config

FAMILIES = ["mha", "bow", "cnn", "bilstm", "minilm"]


def build(family: str, tmp_path, **extra):
    cfg = compose_config("train", [f"model={family}", "max_length=32"], tmp_path)
    with open_dict(cfg):
        cfg.model.update(extra)
    return make_model(cfg.model, cfg.tokenizer.vocab_size, 3), cfg.tokenizer.vocab_size


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_keeps_the_contract(family, tmp_path):
    model, vocab = build(family, tmp_path)
    assert isinstance(model, TextModel)
    table = model.get_input_embeddings()
    assert isinstance(table, nn.Embedding) and table.num_embeddings == vocab
    ids = torch.randint(5, 100, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    model.eval()
    assert model(ids, mask).shape == (2, 3)
    # the embeddings it reports are the ones it reads: moving a token's row moves the logits
    with torch.no_grad():
        before = model(ids, mask)
        table.weight[ids[0, 0]] += torch.randn(table.embedding_dim)  # (not a constant: LayerNorm removes it)
        assert not torch.allclose(model(ids, mask)[0], before[0])
    with pytest.raises(ConfigError, match=f"model: {family} has no parameter nope"):
        build(family, tmp_path, nope=1)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_takes_the_contract_signature_by_keyword(family, tmp_path):
    model, _ = build(family, tmp_path)
    model.eval()
    ids = torch.randint(5, 100, (2, 9))
    ids[1, 6:] = 0  # padding (id 0 in every family's vocabulary)
    mask = ids != 0
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        torch.testing.assert_close(model(ids), logits)  # an omitted mask is input_ids != pad
        out = model(input_ids=ids, attention_mask=mask, return_attention=True)
    torch.testing.assert_close(out.logits, logits)
    heads = model.attention_heads()
    assert len(out.attentions) == len(heads)  # one map per layer; none for the families without attention
    for weights, (_, n_heads) in zip(out.attentions, heads, strict=True):
        assert weights.shape == (2, n_heads, 9, 9)
        assert (weights[1, :, :, 6:] == 0).all()  # no weight on padded keys
    if heads:  # what attention rollout reads tokens through: rows of weights over real tokens
        assert out.pooling is not None and out.pooling.shape == (2, 9)
        torch.testing.assert_close(out.pooling.sum(-1), torch.ones(2))
        assert (out.pooling[1, 6:] == 0).all()
    with pytest.raises(TypeError):
        model(ids, mask, True)  # return_attention is keyword-only: a positional flag is a bug, not a mask


@pytest.mark.parametrize("family", ["mha", "minilm"])
def test_masking_a_head_through_its_attention_heads_module_changes_the_logits(family, tmp_path):
    model, _ = build(family, tmp_path)
    model.eval()
    ids = torch.randint(5, 100, (2, 9))
    module, n_heads = model.attention_heads()[0]
    width = module.in_features // n_heads

    def zero_head(mod, args, head=0):
        ctx = args[0].clone()
        ctx[..., head * width : (head + 1) * width] = 0
        return (ctx,)

    with torch.no_grad():
        before = model(ids)
        handle = module.register_forward_pre_hook(zero_head)
        masked = model(ids)
        handle.remove()
        after = model(ids)
    assert not torch.allclose(masked, before)  # the hook reached a head the forward really uses
    torch.testing.assert_close(after, before)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_span_head_where_the_family_has_one(family, tmp_path):
    if family not in ("mha", "minilm"):
        with pytest.raises(ConfigError, match=f"model: {family} has no span head"):
            build(family, tmp_path, head="span")
        return
    model, _ = build(family, tmp_path, head="span")
    ids = torch.randint(5, 100, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 6:] = False
    logits = model.eval()(ids, mask, token_type_ids=torch.zeros_like(ids))
    assert logits.shape == (2, 9, 2)
    assert (logits[1, 6:] < -1e30).all()  # padding is never a start or an end
