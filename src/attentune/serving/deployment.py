"""The Ray Serve deployment: a predictor per replica, requests batched across clients with ``@serve.batch``.

``GET /health`` answers ``{"status": "ok", ...}`` with the model's task and backend, the replica's process id (the
load test kills replicas by it) and its Ray node. ``POST /predict`` (``serving.requests``) validates the request
first, then sends each of its records into the shared batch queue: up to ``max_batch_size`` records from any
clients run together, after at most ``batch_wait_s``. The model runs in a worker thread, so the replica keeps
queueing the next batch.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from attentune.serving.requests import Limits, RequestError, answer, parse


@serve.deployment(name="attentune")
class PredictorDeployment:
    def __init__(self, ckpt_path: str, backend: str, quantize: str | None, options: dict[str, Any]) -> None:
        import torch

        from attentune.serving.predictor import load_predictor

        torch.set_num_threads(int(options["threads"]))
        self.model = load_predictor(ckpt_path, int(options["max_batch_size"]), backend, quantize, options["threads"])
        self.limits = Limits(int(options["max_texts"]), int(options["max_chars"]))
        self.predict_batch.set_max_batch_size(int(options["max_batch_size"]))
        self.predict_batch.set_batch_wait_timeout_s(float(options["batch_wait_s"]))
        node = ray.get_runtime_context().get_node_id()
        self.health = {"status": "ok", "task": self.model.task, "backend": backend, "pid": os.getpid(), "node": node}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)  # both reset from the config in __init__
    async def predict_batch(self, records: list[dict[str, str]]) -> list[dict[str, Any]]:
        outputs = await asyncio.get_running_loop().run_in_executor(None, self.model.predict, records)
        return [answer(o) for o in outputs]

    async def __call__(self, request: Request) -> JSONResponse:
        path = request.url.path.rstrip("/")
        try:
            if path == "/health":
                if request.method != "GET":
                    raise RequestError(405, f"{request.method} /health: use GET")
                return JSONResponse(self.health)
            if path != "/predict":
                raise RequestError(404, f"no such endpoint {request.url.path}: POST /predict or GET /health")
            if request.method != "POST":
                raise RequestError(405, f"{request.method} /predict: use POST with a JSON body")
            records, one = parse(await request.body(), self.model.inputs, self.limits)
        except RequestError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        predictions = await asyncio.gather(*(self.predict_batch(r) for r in records))
        return JSONResponse(predictions[0] if one else {"predictions": list(predictions)})
