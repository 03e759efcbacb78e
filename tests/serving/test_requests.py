"""The HTTP API's request rules, without a server: what is accepted, and the 4xx and one-line reason otherwise."""

from __future__ import annotations

import json

import pytest

from attentune.serving.requests import Limits, RequestError, answer, parse

LIMITS = Limits(max_texts=3, max_chars=50)


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def test_one_text_many_texts_and_qa_items_become_records():
    assert parse(body({"text": "fine film"}), ("text",), LIMITS) == ([{"text": "fine film"}], True)
    assert parse(body({"texts": ["a", "b"]}), ("text",), LIMITS) == ([{"text": "a"}, {"text": "b"}], False)
    qa = ("question", "context")
    one = {"question": "who?", "context": "Ann did."}
    assert parse(body(one), qa, LIMITS) == ([one], True)
    assert parse(body({"items": [one, one]}), qa, LIMITS) == ([one, one], False)


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b'{"text": "unterminated', 400, "not JSON"),
        (b"\xff\xfe", 400, "not JSON"),
        (body(["a list"]), 400, "JSON object"),
        (body({"txt": "x"}), 422, 'give "text"'),
        (body({"text": "   "}), 422, '"text" is empty'),
        (body({"text": 3}), 422, "must be a string"),
        (body({"texts": []}), 422, "non-empty list"),
        (body({"texts": ["a", ""]}), 422, 'texts[1]: "text" is empty'),
        (body({"texts": ["a"] * 4}), 413, "at most 3"),
        (body({"text": "x" * 51}), 413, "at most 50"),
    ],
)
def test_bad_requests_are_refused_with_a_status_and_one_line(raw, status, says):
    with pytest.raises(RequestError, match=None) as caught:
        parse(raw, ("text",), LIMITS)
    assert caught.value.status == status and says in str(caught.value) and "\n" not in str(caught.value)


def test_a_qa_model_wants_both_fields():
    with pytest.raises(RequestError, match='has no "context"') as caught:
        parse(body({"question": "who?"}), ("question", "context"), LIMITS)
    assert caught.value.status == 422


def test_answers_name_the_label_and_every_probability():
    out = {"pred": "pos", "prob_neg": 0.25, "prob_pos": 0.75}
    assert answer(out) == {"pred": "pos", "probs": {"neg": 0.25, "pos": 0.75}}
    span = {"answer": "Ann", "answer_start": 0, "score": 3.5, "no_answer": False}
    assert answer(span) == {"pred": "Ann", "answer_start": 0, "score": 3.5, "no_answer": False}
