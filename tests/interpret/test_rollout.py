"""Attention rollout and the attention read-outs, against hand computation."""

from __future__ import annotations

import torch

from attentune.interpret.attention import attention_scores, read_out, rollout
from attentune.models.baselines import BowClassifier
from attentune.models.encoder import AttentionClassifier


def _rows(m: torch.Tensor) -> torch.Tensor:
    return m / m.sum(-1, keepdim=True)


def test_rollout_is_the_product_of_residual_averaged_layers_bottom_up() -> None:
    torch.manual_seed(0)
    a1 = torch.rand(1, 2, 3, 3).softmax(-1)  # (B, H, T, T)
    a2 = torch.rand(1, 2, 3, 3).softmax(-1)
    real = torch.ones(1, 3, dtype=torch.bool)
    eye = torch.eye(3)
    want = _rows(a2[0].mean(0) + eye) @ _rows(a1[0].mean(0) + eye)  # layer 2 applied after layer 1
    torch.testing.assert_close(rollout([a1, a2], real)[0], want)
    torch.testing.assert_close(rollout([a1, a2], real)[0].sum(-1), torch.ones(3))  # rows stay distributions


def test_rollout_and_read_out_leave_padding_out() -> None:
    torch.manual_seed(0)
    a = torch.rand(1, 1, 4, 4)
    a[..., 3] = 0  # the padded key gets no weight, as the models return it
    a = a / a.sum(-1, keepdim=True)
    real = torch.tensor([[True, True, True, False]])
    r = rollout([a], real)
    assert (r[0, 3] == 0).all() and (r[0, :, 3] == 0).all()
    cls = torch.tensor([[1.0, 0, 0, 0]])
    torch.testing.assert_close(read_out(r, cls, real), r[:, 0])  # [CLS] pooling reads its own row
    mean = read_out(r, None, real)  # no pooling weights: the mean over real rows
    torch.testing.assert_close(mean[0, :3], r[0, :3, :3].mean(0))
    assert mean[0, 3] == 0


def test_attention_scores_of_a_model_with_and_without_attention() -> None:
    torch.manual_seed(0)
    model = AttentionClassifier(30, 2, d_model=8, num_heads=2, num_layers=2, max_length=16, pooling="cls").eval()
    rows = [[2, 5, 6, 7], [2, 9]]
    scores = attention_scores(model, rows)
    assert set(scores) == {"attention", "rollout"}
    assert [len(s) for s in scores["rollout"]] == [4, 2]  # each row's own length: padding dropped
    for s in scores["rollout"]:
        assert abs(sum(s) - 1) < 1e-5  # [CLS]'s rolled-out row is a distribution over the input
    assert attention_scores(BowClassifier(30, 2, embed_dim=4).eval(), rows) == {}
