"""The HTTP API's requests and answers, apart from Ray Serve (so that every rule is tested without a server).

``POST /predict`` takes ``{"text": "..."}`` or ``{"texts": ["...", ...]}`` (qa: ``{"question", "context"}`` or
``{"items": [{"question", "context"}, ...]}``) and answers ``{"pred", "probs"}`` for one text (qa: ``{"pred":
answer, "answer_start", "score", "no_answer"}``) or ``{"predictions": [...]}`` for a list. A bad request is a 4xx
with ``{"error": "<one line>"}``; it never reaches the model, so it cannot fail a batch of good ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    max_texts: int = 64  # texts (qa: items) in one request
    max_chars: int = 10_000  # characters in one text (qa: question plus context)


class RequestError(Exception):
    """A request the server refuses: its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse(body: bytes, inputs: tuple[str, ...], limits: Limits) -> tuple[list[dict[str, str]], bool]:
    """The input records of a ``/predict`` body and whether it asked for one (not a list).
    ``inputs``: the model's fields (``("text",)``, or ``("question", "context")`` for qa)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"the body is not JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"the body must be a JSON object, not {type(data).__name__}")
    many = "texts" if inputs == ("text",) else "items"
    one_shape = " and ".join(f'"{f}"' for f in inputs)
    if many in data:
        items = data[many]
        if not isinstance(items, list) or not items:
            raise RequestError(422, f'"{many}" must be a non-empty list')
        if len(items) > limits.max_texts:
            raise RequestError(413, f"{len(items)} {many} in one request; at most {limits.max_texts}")
        records = [
            _record(item if many == "items" else {"text": item}, inputs, f"{many}[{i}]", limits)
            for i, item in enumerate(items)
        ]
        return records, False
    if all(f not in data for f in inputs):
        raise RequestError(422, f'give {one_shape} (or "{many}": a list); got {", ".join(map(repr, data)) or "{}"}')
    return [_record(data, inputs, "the request", limits)], True


def _record(item: Any, inputs: tuple[str, ...], where: str, limits: Limits) -> dict[str, str]:
    if not isinstance(item, dict):
        raise RequestError(422, f"{where} must be an object with {', '.join(inputs)}")
    record = {}
    for field in inputs:
        value = item.get(field)
        if value is None:
            raise RequestError(422, f'{where} has no "{field}"')
        if not isinstance(value, str):
            raise RequestError(422, f'{where}: "{field}" must be a string, not {type(value).__name__}')
        if not value.strip():
            raise RequestError(422, f'{where}: "{field}" is empty')
        record[field] = value
    size = sum(len(v) for v in record.values())
    if size > limits.max_chars:
        raise RequestError(413, f"{where} has {size:,} characters; at most {limits.max_chars:,}")
    return record


def answer(output: dict[str, Any]) -> dict[str, Any]:
    """One prediction as the API gives it: classification ``{"pred", "probs": {label: p}}``; qa ``{"pred": the
    answer, "answer_start", "score", "no_answer"}``."""
    if "answer" in output:
        return {"pred": output["answer"]} | {k: v for k, v in output.items() if k != "answer"}
    probs = {k.removeprefix("prob_"): v for k, v in output.items() if k.startswith("prob_")}
    return {"pred": output["pred"], "probs": probs}
