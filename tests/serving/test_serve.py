"""serve.py for real: Ray Serve on loopback, good and bad requests, concurrency, a busy port, a stop by PID."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from attentune.serving.predictor import load_predictor
from attentune.serving.requests import answer
from attentune.tasks.train import train
from conftest import REPO, TINY, compose_config

sys.path.insert(0, str(REPO / "scripts" / "bench"))
from serve_load import Server, free_port  # noqa: E402 - the load test's own server handling

TEXTS = ["a gripping film", "dull and far too long", "the plot was fine", "I laughed, I cried", "meh"]


def post(url: str, data: bytes, method: str = "POST") -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve")
    train(compose_config("train", TINY, out / "run"))
    srv = Server(str(out / "run"), "torch", 1, free_port(), out / "serve.log", ["max_texts=8", "max_chars=200"])
    try:
        srv.wait_ready(timeout=240)
        yield srv, out / "run"
    finally:
        code = srv.stop()
        assert code == 0, srv.log.read_text()[-2000:]  # SIGTERM to its PID: a clean shutdown


def test_predictions_equal_predict_py_one_at_a_time_in_lists_and_under_concurrency(server):
    srv, run = server
    model = load_predictor(run, 64)
    expected = [answer(model.predict([{"text": t}])[0]) for t in TEXTS]
    status, one = post(f"{srv.url}/predict", json.dumps({"text": TEXTS[0]}).encode())
    assert status == 200 and one["pred"] == expected[0]["pred"] and set(one["probs"]) == set(expected[0]["probs"])
    status, many = post(f"{srv.url}/predict", json.dumps({"texts": TEXTS}).encode())
    assert status == 200 and len(many["predictions"]) == len(TEXTS)
    with ThreadPoolExecutor(8) as pool:  # batched together by @serve.batch
        answers = list(pool.map(lambda t: post(f"{srv.url}/predict", json.dumps({"text": t}).encode()), TEXTS * 8))
    for got, want in zip([a for _, a in answers] + many["predictions"], expected * 8 + expected, strict=True):
        assert got["pred"] == want["pred"]
        assert max(abs(got["probs"][k] - v) for k, v in want["probs"].items()) < 1e-4
    status, health = post(f"{srv.url}/health", None, "GET")
    assert status == 200 and health["status"] == "ok" and health["task"] == "classification"


@pytest.mark.parametrize(
    ("path", "data", "method", "status"),
    [
        ("/predict", b"{not json", "POST", 400),
        ("/predict", b'{"txt": "x"}', "POST", 422),
        ("/predict", b'{"text": ""}', "POST", 422),
        ("/predict", json.dumps({"texts": ["a"] * 9}).encode(), "POST", 413),
        ("/predict", json.dumps({"text": "x" * 201}).encode(), "POST", 413),
        ("/predict", None, "GET", 405),
        ("/nowhere", b"{}", "POST", 404),
    ],
)
def test_bad_requests_get_a_4xx_with_one_line_and_the_server_keeps_serving(server, path, data, method, status):
    srv, _ = server
    got, body = post(f"{srv.url}{path}", data, method)
    assert got == status and list(body) == ["error"] and "\n" not in body["error"]
    assert post(f"{srv.url}/predict", b'{"text": "still here"}')[0] == 200


def test_a_port_in_use_is_a_one_line_error(server, tmp_path):
    srv, run = server
    port = srv.url.rsplit(":", 1)[1]
    proc = subprocess.run(
        [sys.executable, str(REPO / "src" / "serve.py"), f"ckpt_path={run}", f"port={port}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: port={port}: 127.0.0.1:{port} is not free (Address already in use); choose another port"
    ]
