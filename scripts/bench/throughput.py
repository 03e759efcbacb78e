"""Training throughput: attentune's AttentionClassifier vs transformers' BertForSequenceClassification.

Same size for both (4 layers, d_model 256, 8 heads, FFN 1024, vocab 30522, 2 classes), same dropout
(hidden 0.1, attention --attention-dropout for both), same batch of token ids without padding, same
optimizer, same precision, same process. A step = forward + cross-entropy + backward + AdamW step +
zero_grad. After a warm-up, the models run in alternation, `--steps` steps each per round (order reversed
every other round). The table shows median tokens/s over `--rounds` rounds ([min-max]) and, as the
ratio, the median of per-round ratios: on a shared VM the speed of the CPU itself can drift 3x for
seconds at a time, and a ratio taken within one round sees both models under the same conditions.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/bench/throughput.py --steps 2 --rounds 15

Rows: `ours` is the default config (attention_backend=sdpa); `ours explicit-attn` is
attention_backend=explicit (the explicit-softmax path for training too); `--compile` adds torch.compile'd
rows, compared with compiled HF (compile time is not counted). Headline: eager rows. `--threads` sets
torch's intra-op threads for both.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from attentune.models.encoder import AttentionClassifier, num_parameters


def build_ours(args: argparse.Namespace, **overrides) -> nn.Module:
    return AttentionClassifier(
        args.vocab_size, 2, d_model=256, num_heads=8, num_layers=4, ffn_ratio=4.0, dropout=0.1,
        attention_dropout=args.attention_dropout, max_length=512, **overrides,
    )  # fmt: skip


def build_hf(args: argparse.Namespace) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=args.vocab_size, hidden_size=256, num_hidden_layers=4, num_attention_heads=8,
        intermediate_size=1024, hidden_dropout_prob=0.1, attention_probs_dropout_prob=args.attention_dropout,
        max_position_embeddings=512, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)  # default attention implementation (sdpa)
    return _LogitsOnly(model)


class _LogitsOnly(nn.Module):
    """Make HF's model return plain logits like ours (the wrapper adds no work)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def make_step(model: nn.Module, args: argparse.Namespace, bf16: bool) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, args.vocab_size, (args.batch_size, args.seq_len), generator=g)
    attention_mask = torch.ones_like(input_ids)
    labels = torch.randint(0, 2, (args.batch_size,), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True if args.fused_adamw else None)
    model.train()

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids, attention_mask)
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def measure(steps: dict[str, Callable[[], None]], args: argparse.Namespace) -> dict[str, list[float]]:
    """tokens/s per model and round, models alternating within each round."""
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    tokens = args.steps * args.batch_size * args.seq_len
    results: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))  # no model always runs first
        for name in order:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            results[name].append(tokens / (time.perf_counter() - t0))
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2, help="training steps per model per round")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3, help="steps per model before timing")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--vocab-size", type=int, default=30522)
    p.add_argument("--attention-dropout", type=float, default=0.0, help="for both models")
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--fused-adamw", action="store_true", help="AdamW(fused=True) for both")
    p.add_argument("--compile", action="store_true", help="also torch.compile'd rows for both")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    print(
        f"torch {torch.__version__} | {platform.machine()} | threads {args.threads} | "
        f"batch {args.batch_size} x seq {args.seq_len} | vocab {args.vocab_size} | "
        f"attention dropout {args.attention_dropout} | AdamW{'(fused)' if args.fused_adamw else ''} | "
        f"{args.rounds} rounds x {args.steps} steps, median [min-max]"
    )
    builders: dict[str, Callable[[], nn.Module]] = {
        "ours": lambda: build_ours(args),
        "ours explicit-attn": lambda: build_ours(args, attention_backend="explicit"),
        "HF BERT": lambda: build_hf(args),
    }
    torch.manual_seed(0)
    n_params = {name: num_parameters(build()) for name, build in builders.items()}
    print("parameters: " + ", ".join(f"{name} {n / 1e6:.2f}M" for name, n in n_params.items()))
    print(f"HF attention implementation: {build_hf(args).model.config._attn_implementation}")

    rows = []
    for precision in args.precision:
        bf16 = precision == "bf16"
        torch.manual_seed(0)
        steps = {name: make_step(build(), args, bf16) for name, build in builders.items()}
        if args.compile:
            for name in ("ours", "ours explicit-attn", "HF BERT"):
                steps[f"{name} (compiled)"] = make_step(torch.compile(builders[name]()), args, bf16)
        results = measure(steps, args)
        for name, values in results.items():
            ref = results["HF BERT (compiled)" if "compiled" in name else "HF BERT"]  # like with like
            ratios = [a / b for a, b in zip(values, ref, strict=True)]  # paired: same round, same conditions
            rows.append((precision, name, statistics.median(values), min(values), max(values),
                         statistics.median(ratios)))  # fmt: skip

    width = max(len(name) for _, name, *_ in rows) + 2
    print(f"\n{'precision':<10}{'model':<{width}}{'tokens/s':>9}  {'[min-max]':<15}{'vs HF':>6}")
    for precision, name, med, lo, hi, ratio in rows:
        print(f"{precision:<10}{name:<{width}}{med:>9.0f}  {f'[{lo:.0f}-{hi:.0f}]':<15}{ratio:>5.2f}x")
    print("vs HF: median over rounds of (ours / HF) measured in the same round")


if __name__ == "__main__":
    main()
