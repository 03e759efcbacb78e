"""Non-attention baselines: bag of embeddings (fastText-like), Kim (2014) CNN, BiLSTM.

Every model follows the model contract: ``model(input_ids (B, T), attention_mask (B, T)) -> logits (B, C)``
with mask True/1 = real token, built as ``Model(vocab_size=V, num_classes=C, **hyperparameters)`` with the
hyperparameters validated by a typed config (``model.config``). Pooling ignores padding, so logits do not
change when padding is appended (eval mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from attentune.errors import ConfigError
from attentune.models.contract import EncoderOutput, make_config, real_tokens
from attentune.models.embeddings import build_token_embedding, check_pretrained_embeddings, init_pretrained
from attentune.models.heads import Pooler, check_head

_MIX, _LOW32 = 0x45D9F3B, 0xFFFFFFFF


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xor-shift-multiply) on int64 tensors; products stay below 2**59."""
    x = (((x >> 16) ^ x) * _MIX) & _LOW32
    x = (((x >> 16) ^ x) * _MIX) & _LOW32
    return (x >> 16) ^ x


@dataclass
class BaselineConfig:
    """Hyperparameters every baseline shares."""

    vocab_size: int
    num_classes: int
    embed_dim: int = 100
    dropout: float = 0.3
    pad_token_id: int = 0
    pretrained_embeddings: str | None = None  # null | glove (copied in by ``init_embeddings(vocab)``)
    head: str = "classification"  # the baselines have no span head

    def __post_init__(self) -> None:
        check_head(self.head, type(self).__name__.removesuffix("Config").lower(), heads=("classification",))
        if self.vocab_size < 2:
            raise ConfigError(f"model: vocab_size must be >= 2, got {self.vocab_size}")
        if self.num_classes < 2:
            raise ConfigError(f"model: num_classes must be >= 2, got {self.num_classes}")
        if self.embed_dim < 1:
            raise ConfigError(f"model: embed_dim must be >= 1, got {self.embed_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model: dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(f"model: pad_token_id must be in [0, vocab_size), got {self.pad_token_id}")
        check_pretrained_embeddings(self.pretrained_embeddings, self.embed_dim)


@dataclass
class BowConfig(BaselineConfig):
    hidden_dim: int = 128  # 0: linear classifier on the mean embedding (fastText proper)
    bigram_buckets: int = 0  # 0: unigrams only; else hashed (prev_id, id) bigram embeddings
    dropout: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_dim < 0:
            raise ConfigError(f"model: hidden_dim must be >= 0, got {self.hidden_dim}")
        if self.bigram_buckets < 0:
            raise ConfigError(f"model: bigram_buckets must be >= 0, got {self.bigram_buckets}")


@dataclass
class CNNConfig(BaselineConfig):
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 100
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kernel_sizes = list(self.kernel_sizes)  # Hydra passes a ListConfig
        if not self.kernel_sizes:
            raise ConfigError("model: kernel_sizes must be non-empty")
        if min(self.kernel_sizes) < 1:
            raise ConfigError(f"model: kernel_sizes must all be >= 1, got {self.kernel_sizes}")
        if self.num_filters < 1:
            raise ConfigError(f"model: num_filters must be >= 1, got {self.num_filters}")


@dataclass
class BiLSTMConfig(BaselineConfig):
    hidden_dim: int = 128  # per direction
    num_layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_dim < 1:
            raise ConfigError(f"model: hidden_dim must be >= 1, got {self.hidden_dim}")
        if self.num_layers < 1:
            raise ConfigError(f"model: num_layers must be >= 1, got {self.num_layers}")


class _EmbeddingClassifier(nn.Module):
    """Shared by the baselines: the token embedding and its optional pretrained initialisation."""

    config: BaselineConfig

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = build_token_embedding(config.vocab_size, config.embed_dim, config.pad_token_id)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def attention_heads(self) -> list[tuple[nn.Module, int]]:
        return []  # no attention

    def init_embeddings(self, vocab: dict[str, int]) -> int:
        """Copy in ``config.pretrained_embeddings`` vectors for ``vocab``; returns how many were found."""
        return init_pretrained(self.embedding, vocab, self.config.pretrained_embeddings)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        token_type_ids: torch.Tensor | None = None,  # the contract's segments: one text, none to tell apart
        return_attention: bool = False,
    ) -> torch.Tensor | EncoderOutput:
        """The model contract (``models/contract.py``); without attention, ``attentions`` is empty."""
        logits = self._logits(input_ids, real_tokens(input_ids, attention_mask, self.config.pad_token_id))
        return EncoderOutput(logits=logits, attentions=()) if return_attention else logits

    def _logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Shapes: input_ids (B, T) long, mask (B, T) bool True at real tokens -> logits (B, num_classes)."""
        raise NotImplementedError

    def _embed(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Zeroing masked positions makes padding invisible even where its id is not pad_token_id.
        return self.embedding(input_ids) * mask.unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, T, E)


class BowClassifier(_EmbeddingClassifier):
    """Mean of token (and hashed bigram) embeddings over real tokens, then an MLP (fastText-like).

    Shapes: ``input_ids`` (B, T) long, ``attention_mask`` (B, T) bool/int -> logits (B, num_classes).
    """

    config: BowConfig

    def __init__(self, vocab_size: int, num_classes: int, **hparams: Any) -> None:
        cfg = make_config(BowConfig, "bow", vocab_size=vocab_size, num_classes=num_classes, **hparams)
        super().__init__(cfg)
        self.bigram_embedding = None
        if cfg.bigram_buckets:
            self.bigram_embedding = nn.Embedding(cfg.bigram_buckets, cfg.embed_dim)
        layers: list[nn.Module] = [nn.Dropout(cfg.dropout)]
        if cfg.hidden_dim:
            layers += [nn.Linear(cfg.embed_dim, cfg.hidden_dim), nn.ReLU(), nn.Dropout(cfg.dropout)]
        layers.append(nn.Linear(cfg.hidden_dim or cfg.embed_dim, num_classes))
        self.classifier = nn.Sequential(*layers)

    def bigram_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Hash bucket of each (previous, current) token pair: (B, T) -> (B, T - 1)."""
        prev, cur = input_ids[:, :-1], input_ids[:, 1:]
        return _mix32(_mix32(prev) ^ cur) % self.config.bigram_buckets  # mixing prev first: order matters

    def _logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self._embed(input_ids, mask)  # (B, T, E)
        total, count = x.sum(1), mask.sum(1, keepdim=True)  # (B, E), (B, 1)
        if self.bigram_embedding is not None:
            pair_mask = mask[:, :-1] & mask[:, 1:]  # (B, T - 1): both tokens real
            bigrams = self.bigram_embedding(self.bigram_ids(input_ids))  # (B, T - 1, E)
            bigrams = bigrams * pair_mask.unsqueeze(-1)
            total, count = total + bigrams.sum(1), count + pair_mask.sum(1, keepdim=True)
        # fastText averages unigram and bigram vectors together.
        return self.classifier(total / count.clamp_min(1).to(total.dtype))


class CNNClassifier(_EmbeddingClassifier):
    """Kim (2014): convolutions of several widths, max over time, dropout, linear.

    Each filter sees every window that starts at a real token. The input is right-padded with
    ``max(kernel_sizes) - 1`` zero vectors, so windows near the end (and sequences shorter than a kernel)
    exist and see zeros past the end, whatever the batch's own padding.

    Shapes: ``input_ids`` (B, T) long, ``attention_mask`` (B, T) bool/int -> logits (B, num_classes).
    """

    config: CNNConfig

    def __init__(self, vocab_size: int, num_classes: int, **hparams: Any) -> None:
        cfg = make_config(CNNConfig, "cnn", vocab_size=vocab_size, num_classes=num_classes, **hparams)
        super().__init__(cfg)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.embed_dim, cfg.num_filters, k) for k in cfg.kernel_sizes)
        self.pool = Pooler("max", cfg.num_filters)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.num_filters * len(cfg.kernel_sizes), num_classes)

    def _logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        x = self._embed(input_ids, mask).transpose(1, 2)  # (B, E, T)
        x = nn.functional.pad(x, (0, max(self.config.kernel_sizes) - 1))  # (B, E, T + kmax - 1)
        pooled = []
        for conv in self.convs:
            h = conv(x)[:, :, :T].transpose(1, 2)  # (B, T, F): the window starting at each position
            pooled.append(torch.relu(self.pool(h, ~mask)))  # (B, F); relu(max) == max(relu), cheaper
        return self.classifier(self.dropout(torch.cat(pooled, dim=-1)))  # (B, F * len(kernel_sizes))


class BiLSTMClassifier(_EmbeddingClassifier):
    """Bidirectional LSTM over the real tokens (packed sequences), max over time, dropout, linear.

    Assumes right padding (real tokens first), as :class:`attentune.tokenization.Collator` produces.

    Shapes: ``input_ids`` (B, T) long, ``attention_mask`` (B, T) bool/int -> logits (B, num_classes).
    """

    config: BiLSTMConfig

    def __init__(self, vocab_size: int, num_classes: int, **hparams: Any) -> None:
        cfg = make_config(BiLSTMConfig, "bilstm", vocab_size=vocab_size, num_classes=num_classes, **hparams)
        super().__init__(cfg)
        self.lstm = nn.LSTM(
            cfg.embed_dim,
            cfg.hidden_dim,
            num_layers=cfg.num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.pool = Pooler("max", 2 * cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(2 * cfg.hidden_dim, num_classes)
        # one-layer one-way shapes for `_unpacked` (a tuple: not submodules, no parameters of the model's own)
        sizes = [cfg.embed_dim] + [2 * cfg.hidden_dim] * (cfg.num_layers - 1)
        self._one_way = tuple(nn.LSTM(n, cfg.hidden_dim, batch_first=True) for n in sizes)

    def _logits(self, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        T = input_ids.shape[1]
        x = self.dropout(self._embed(input_ids, mask))  # (B, T, E)
        lengths = mask.sum(1).clamp_min(1)  # pack needs >= 1
        if torch.compiler.is_exporting():  # a PackedSequence cannot be traced: the same outputs, unpacked
            out = self._unpacked(x, lengths)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=T)  # (B, T, 2H)
        return self.classifier(self.dropout(self.pool(out, ~mask)))  # (B, 2H) -> (B, C)

    def _unpacked(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The packed bidirectional LSTM's outputs at the real positions, from padded inputs (pads hold anything:
        the max pool masks them). Forward: pads come after the real tokens, so they cannot change them. Backward:
        each row's real tokens reversed in place, run forward, reversed back. Layer by layer, with
        ``self.lstm``'s own weights (``torch.func.functional_call`` on a one-layer, one-way LSTM).

        Shapes: x (B, T, E), lengths (B,) -> (B, T, 2H).
        """
        T = x.shape[1]
        t = torch.arange(T, device=x.device)[None, :]  # (1, T)
        flip = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T): its own inverse
        for layer, one_way in enumerate(self._one_way):
            outs = []
            for suffix, order in (("", None), ("_reverse", flip)):
                weights = {
                    f"{kind}_l0": getattr(self.lstm, f"{kind}_l{layer}{suffix}")
                    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                }
                seq = x if order is None else x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))  # (B, T, in)
                zeros = seq.new_zeros(1, seq.shape[0], one_way.hidden_size)  # (1, B, H): the batch stays dynamic
                h = torch.func.functional_call(one_way, weights, (seq, (zeros, zeros)))[0]  # (B, T, H)
                outs.append(h if order is None else h.gather(1, order[..., None].expand(-1, -1, h.shape[-1])))
            x = torch.cat(outs, dim=-1)  # (B, T, 2H)
        return x
