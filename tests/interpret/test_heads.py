"""Head masking through the contract's attention_heads(), head importance and the pruning curve."""

from __future__ import annotations

import torch

from attentune.interpret.heads import evaluate, head_importance, masked_heads
from attentune.interpret.target import Example, batch
from attentune.models.encoder import AttentionClassifier


def _model() -> AttentionClassifier:
    torch.manual_seed(0)
    return AttentionClassifier(30, 2, d_model=8, num_heads=2, num_layers=2, max_length=16).eval()


def _examples() -> list[Example]:
    g = torch.Generator().manual_seed(0)
    rows = [[2, *torch.randint(4, 30, (6,), generator=g).tolist()] for _ in range(12)]
    return [Example("", r, [""] * len(r), [True] + [False] * 6, label=i % 2) for i, r in enumerate(rows)]


def test_masking_every_head_of_a_layer_leaves_only_its_output_bias() -> None:
    model = _model()
    ids, mask = batch([e.ids for e in _examples()])
    out_proj = model.attention_heads()[1][0]
    seen = []
    out_proj.register_forward_hook(lambda m, args, out: seen.append(out))
    with torch.no_grad(), masked_heads(model, [(1, 0), (1, 1)]):
        model(input_ids=ids, attention_mask=mask)
    torch.testing.assert_close(seen[-1], out_proj.bias.expand_as(seen[-1]))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)  # the hooks are gone after the block
    assert not torch.allclose(seen[-1], out_proj.bias.expand_as(seen[-1]))


def test_head_importance_and_the_pruning_curve() -> None:
    model, examples = _model(), _examples()
    heads = head_importance(model, examples, steps=4)
    assert len(heads.importance) == 2 and all(len(row) == 2 for row in heads.importance)
    loss, acc = evaluate(model, examples)
    assert heads.base_loss == loss and heads.base_accuracy == acc
    with masked_heads(model, [(0, 1)]):
        assert heads.importance[0][1] == evaluate(model, examples)[0] - loss
    assert heads.pruning[0] == (0.0, acc) and len({f for f, _ in heads.pruning}) == len(heads.pruning)
    with masked_heads(model, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert heads.pruning[-1] == (1.0, evaluate(model, examples)[1])
