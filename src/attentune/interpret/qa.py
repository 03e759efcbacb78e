"""What an extractive-QA model's predicted span rests on.

The question and context are cut into the task's windows (as training and ``predict.py`` cut them); the window
holding the best-scoring span (start + end logit, as decoding ranks spans) is explained: integrated gradients
and gradient x input of that span's score, and the attention and rollout rows of its first and last tokens
(averaged). Special tokens ([CLS], [SEP]) keep their ids in the IG baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from attentune.interpret import attributions as attr
from attentune.interpret.attention import read_out, rollout
from attentune.interpret.explain import Explanations
from attentune.interpret.target import Example, SpanTarget, Vocabulary, model_inputs
from attentune.tasks.qa.data import QAExample
from attentune.tasks.qa.windows import Window, encode_windows

QA_METHODS = ("integrated_gradients", "gradient_x_input", "attention", "rollout", "random")


@dataclass
class SpanExplanation:
    explanations: Explanations  # one example: the window; ``predicted`` is unused for spans
    span: tuple[int, int]  # its first and last token in the window
    answer: str
    score: float


def best_span(window: Window, logits: torch.Tensor, max_answer_tokens: int) -> tuple[int, int, float]:
    """The context span with the highest start + end logit. Shapes: logits (T, 2)."""
    context = torch.from_numpy(window.context)
    s = logits[:, 0].float().masked_fill(~context, -float("inf"))
    e = logits[:, 1].float().masked_fill(~context, -float("inf"))
    scores = s[:, None] + e[None, :]  # (T, T): start x end
    T = len(s)
    valid = torch.ones(T, T, dtype=torch.bool).triu() & ~torch.ones(T, T, dtype=torch.bool).triu(max_answer_tokens)
    scores = scores.masked_fill(~valid, -float("inf"))
    flat = int(scores.argmax())
    return flat // T, flat % T, float(scores.flatten()[flat])


def explain_span(
    model: nn.Module,
    windows_tokenizer: Tokenizer,
    question: str,
    context: str,
    vocab: Vocabulary,
    methods: tuple[str, ...] = QA_METHODS,
    *,
    max_question_tokens: int = 64,
    max_answer_tokens: int = 30,
    ig_steps: int = 32,
    ig_max_steps: int = 512,
    internal_batch_size: int = 64,
    seed: int = 0,
) -> SpanExplanation:
    model = model.float().eval()
    windows = encode_windows(windows_tokenizer, [QAExample("q", "", question, context)], max_question_tokens)
    examples = [
        Example(
            question,
            w.input_ids.tolist(),
            [windows_tokenizer.id_to_token(int(t)) or "" for t in w.input_ids],
            [int(t) in vocab.special and int(t) != vocab.unk for t in w.input_ids],
            token_type_ids=w.type_ids.tolist(),
        )
        for w in windows
    ]
    with torch.no_grad():
        ids, mask, types = model_inputs(examples)
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types)  # (W, T, 2)
    spans = [best_span(w, logits[k, : len(w.input_ids)], max_answer_tokens) for k, w in enumerate(windows)]
    k = max(range(len(windows)), key=lambda i: spans[i][2])
    first, last, score = spans[k]
    window, example = windows[k], examples[k]
    a, b = window.span(first, last)
    out = Explanations([example], torch.zeros(1, 0).numpy(), [0], {}, {})
    target = SpanTarget(model)
    for method in methods:
        start = time.perf_counter()
        if method == "integrated_gradients":
            out.ig = attr.integrated_gradients(
                target,
                [example],
                [(first, last)],
                vocab,
                n_steps=ig_steps,
                max_steps=ig_max_steps,
                internal_batch_size=internal_batch_size,
            )
            out.scores[method] = out.ig.scores
        elif method == "gradient_x_input":
            out.scores[method] = attr.gradient_x_input(target, [example], [(first, last)])
        elif method in ("attention", "rollout"):
            out.scores[method] = [_span_attention(model, example, first, last, method)]
        elif method == "random":
            out.scores[method] = attr.random_scores([example], seed)
        else:
            out.skipped[method] = "not defined for spans (deleting a token moves the span)"
            continue
        out.seconds[method] = time.perf_counter() - start
    return SpanExplanation(out, (first, last), context[a:b], score)


@torch.no_grad()
def _span_attention(model: nn.Module, example: Example, first: int, last: int, method: str) -> list[float]:
    ids, mask, types = model_inputs([example])
    result: Any = model(input_ids=ids, attention_mask=mask, token_type_ids=types, return_attention=True)
    matrix = rollout(result.attentions, mask) if method == "rollout" else result.attentions[-1].float().mean(1)
    rows = torch.zeros(1, ids.shape[1])
    rows[0, first] += 0.5
    rows[0, last] += 0.5
    return read_out(matrix, rows, mask)[0].tolist()
