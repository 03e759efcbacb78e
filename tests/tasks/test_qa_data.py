"""Extractive QA's data path: SQuAD files, windows and offsets, span decoding, EM/F1, the synthetic set."""

from __future__ import annotations

import json

import pytest
import torch

from attentune.errors import DataError
from attentune.tasks.qa.data import QAExample, load_squad, read_squad, split_by_article
from attentune.tasks.qa.decode import answers, decode
from attentune.tasks.qa.metrics import best_threshold, squad_scores
from attentune.tasks.qa.synth import generate
from attentune.tasks.qa.windows import encode_windows, window_tokenizer
from attentune.tokenization.tokenizer import build_tokenizer

CONTEXT = "The Eiffel Tower was finished in 1889. It stands in Paris and is 330 metres tall."
START = CONTEXT.index("1889")


def squad_file(tmp_path, qas, context=CONTEXT, name="s.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}))
    return path


def qa(qid, question="When was it finished?", text="1889", start=START, **extra):
    return {"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}], **extra}


def test_a_squad_file_reads_answerable_and_unanswerable_questions(tmp_path):
    path = squad_file(tmp_path, [qa("a"), {"id": "b", "question": "Who?", "answers": [], "is_impossible": True}])
    a, b = read_squad(path)
    assert a.answers == (("1889", CONTEXT.index("1889")),) and a.answerable
    assert not b.answerable and b.context == CONTEXT


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not valid JSON"),
        ('{"version": "v2.0"}', "not SQuAD-shaped"),
        ('{"data": [{"title": "t"}]}', r"not SQuAD-shaped: data\[0\] has no list of paragraphs"),
    ],
)
def test_a_file_that_is_not_squad_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_squad(path)


@pytest.mark.parametrize(
    "bad,message",
    [
        (qa("q7", start=3), "id q7: answer '1889' is not at answer_start 3"),
        (qa("q8", question="  "), "id q8: empty question"),
        ({"id": "q9", "question": "Who?"}, "id q9: no answers and not is_impossible"),
    ],
)
def test_bad_questions_are_named_by_their_id(tmp_path, bad, message):
    with pytest.raises(DataError, match=message):
        read_squad(squad_file(tmp_path, [qa("ok"), bad]))


def test_an_empty_context_and_a_duplicate_id_are_errors(tmp_path):
    with pytest.raises(DataError, match="id e: empty context"):
        read_squad(squad_file(tmp_path, [qa("e", text="x", start=0)], context=""))
    with pytest.raises(DataError, match="id d: the id is used twice"):
        read_squad(squad_file(tmp_path, [qa("d"), qa("d")]))


def test_splits_carved_from_one_file_never_share_an_article():
    examples = [QAExample(f"{t}-{i}", f"title{t}", "q?", "c", (("c", 0),)) for t in range(50) for i in range(4)]
    rest, val, test = split_by_article(examples, (0.1, 0.1), seed=3)
    titles = [{ex.title for ex in part} for part in (rest, val, test)]
    assert not (titles[0] & titles[1] or titles[0] & titles[2] or titles[1] & titles[2])
    assert len(val) == len(test) == 20 and len(rest) + len(val) + len(test) == 200
    assert split_by_article(examples, (0.1, 0.1), seed=3) == (rest, val, test)  # seeded


def test_load_squad_needs_a_training_file(tmp_path):
    from attentune.errors import ConfigError

    with pytest.raises(ConfigError, match="data.train_path"):
        load_squad()


@pytest.fixture(scope="module")
def tokenizer():
    words = (CONTEXT + " When was it finished? Where does it stand? How tall is it?").split()
    return build_tokenizer([" ".join(words)] * 3, kind="wordpiece", vocab_size=200, min_frequency=1, max_length=64)


def test_an_answer_across_a_window_edge_is_whole_in_a_later_window_and_maps_back_exactly(tokenizer):
    context = " ".join(["filler"] * 40) + " The tower is 330 metres tall. " + " ".join(["filler"] * 40)
    start = context.index("330 metres")
    ex = QAExample("x", "t", "How tall is it?", context, (("330 metres", start),))
    tok = window_tokenizer(tokenizer, max_length=24, stride=8, max_question_tokens=8)
    windows = encode_windows(tok, [ex], max_question_tokens=8)
    assert len(windows) > 3 and all(len(w.input_ids) <= 24 for w in windows)
    holding = [w for w in windows if w.start]
    assert holding  # some window holds the answer whole...
    for w in holding:  # ...and its token positions map back to exactly the answer's characters
        first, last = w.span(w.start, w.end)
        assert context[first:last] == "330 metres"
    # a window whose edge cuts the answer marks it as not there ([CLS]), never as a partial span
    cut = [w for w in windows if any(start < a < start + 10 for a, _ in w.offsets[w.context]) and not w.start]
    assert all(w.start == w.end == 0 for w in cut)
    # consecutive windows overlap by the stride: every context token is in some window
    covered = {(int(a), int(b)) for w in windows for a, b in w.offsets[w.context]}
    assert min(a for a, _ in covered) == 0 and max(b for _, b in covered) == len(context)


def test_decoding_takes_the_best_valid_span_and_the_threshold_decides_no_answer(tokenizer):
    ex = QAExample("x", "t", "When was it finished?", CONTEXT, (("1889", CONTEXT.index("1889")),))
    (w,) = encode_windows(window_tokenizer(tokenizer, 64, 16, 16), [ex], 16)
    n = len(w.input_ids)
    s, e = torch.zeros(n), torch.zeros(n)
    s[w.start], e[w.end] = 5.0, 5.0
    best, null = decode([ex], [w], [s], [e])
    assert best["x"][:2] == ("1889", 10.0) and null["x"] == 0.0
    assert ex.context[best["x"].start :].startswith("1889")
    # an end before the start, or a span longer than max_answer_tokens, is never chosen
    late, early = w.start + 3, w.start + 1
    s2, e2 = torch.zeros(n), torch.zeros(n)
    s2[late], e2[early] = 9.0, 9.0
    s2[w.start], e2[w.end] = 1.0, 1.0
    best, _ = decode([ex], [w], [s2], [e2])
    assert best["x"][0] != "" and best["x"][1] < 18.0
    # a longer span scores more (5 + 5) than a one-token one (5 + 1), but max_answer_tokens=1 allows only the latter
    s3, e3 = torch.zeros(n), torch.zeros(n)
    s3[w.start], e3[w.start + 1], e3[w.start] = 5.0, 5.0, 1.0
    assert decode([ex], [w], [s3], [e3])[0]["x"][1] == 10.0
    best, _ = decode([ex], [w], [s3], [e3], max_answer_tokens=1)
    first, last = w.span(w.start, w.start)
    assert best["x"] == (CONTEXT[first:last], 6.0, first)
    # v2: "" when the no-answer score beats the span's by at least the threshold
    assert answers({"x": ("1889", 2.0)}, {"x": 3.0}, threshold=0.5) == {"x": ""}
    assert answers({"x": ("1889", 2.0)}, {"x": 3.0}, threshold=1.5) == {"x": "1889"}
    assert answers({"x": ("1889", 2.0)}, {"x": 3.0}, threshold=None) == {"x": "1889"}


def test_exact_match_and_f1_follow_the_official_normalisation():
    gold = [
        QAExample("a", "t", "q", "c", (("the Eiffel Tower", 0),)),
        QAExample("b", "t", "q", "c", (("330 metres tall", 0), ("330 metres", 0))),
        QAExample("c", "t", "q", "c", ()),
    ]
    # a: articles, case and punctuation are ignored -> exact; b: "330 metres high" vs "330 metres tall":
    # 2 common tokens of 3 and 3 -> F1 2/3, vs "330 metres": P 2/3, R 1 -> 0.8 (the best gold counts)
    preds = {"a": "Eiffel  tower!", "b": "330 metres high", "c": ""}
    scores = squad_scores(preds, gold)
    assert scores["HasAns_exact"] == pytest.approx(0.5) and scores["HasAns_f1"] == pytest.approx((1 + 0.8) / 2)
    assert scores["NoAns_exact"] == scores["NoAns_f1"] == 1.0
    assert scores["exact"] == pytest.approx(2 / 3) and scores["f1"] == pytest.approx((1 + 0.8 + 1) / 3)
    assert squad_scores({"c": "something"}, gold[2:])["exact"] == 0.0


def test_the_no_answer_threshold_is_the_one_that_maximises_f1():
    gold = [QAExample("a", "t", "q", "c", (("x", 0),)), QAExample("b", "t", "q", "c", ())]
    best = {"a": ("x", 5.0), "b": ("y", 4.0)}
    null = {"a": 6.0, "b": 6.0}  # diffs: a 1.0, b 2.0: answer a (right), leave b empty (right)
    t = best_threshold(best, null, gold)
    assert 1.0 < t <= 2.0
    assert squad_scores(answers(best, null, t), gold)["f1"] == 1.0


def test_the_synthetic_set_is_squad_v2_with_exact_answers_split_by_article():
    docs = generate(seed=7)
    assert docs == generate(seed=7)  # seeded
    titles = [{a["title"] for a in docs[s]["data"]} for s in ("train", "val", "test")]
    assert not (titles[0] & titles[1] or titles[0] & titles[2] or titles[1] & titles[2])
    qas = [(p["context"], q) for a in docs["train"]["data"] for p in a["paragraphs"] for q in p["qas"]]
    impossible = [q for _, q in qas if q["is_impossible"]]
    assert 0.25 < len(impossible) / len(qas) < 0.4
    for context, q in qas:
        for ans in q["answers"]:
            assert context[ans["answer_start"] : ans["answer_start"] + len(ans["text"])] == ans["text"]
        assert q["question"].endswith("?") and (q["answers"] == []) == q["is_impossible"]


def test_the_lexical_baseline_answers_with_the_gap_of_the_best_matching_sentence():
    from attentune.tasks.qa.baseline import lexical_answer

    context = "Sales rose in spring. Profits at the firm jumped 76% to $1.13bn in 2004."
    answer, overlap = lexical_answer("Profits at the firm jumped how much to $1.13bn in 2004?", context)
    assert answer == "76" and context.index(answer) > context.index("Profits") and overlap > 0.5
    _, low = lexical_answer("Who directed the film?", context)
    assert low < overlap
