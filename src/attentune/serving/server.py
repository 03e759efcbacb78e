"""``serve(cfg)``: the predictor behind Ray Serve until the process is stopped (Ctrl-C or SIGTERM).

Everything a user can get wrong is checked before Ray starts: the backend and graph, the port (in use: a one-line
error), and the model itself, loaded once here (``backend=onnx`` on a checkpoint exports it here, once, and the
replicas load the export). Serve listens on ``host`` (127.0.0.1 unless told otherwise); a local Ray instance of our
own by default, or an existing cluster (``ray.address``, as ``tune.py``: then ``ckpt_path`` must be readable on
every node that runs a replica).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from attentune.errors import ConfigError
from attentune.raysession import ray_session
from attentune.serving.predictor import check_backend, load_predictor

INGRESS = ("haproxy", "proxy")


def check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"port={port}: choose a port between 1 and 65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"port={port}: {host}:{port} is not free ({exc.strerror}); choose another port") from None


def haproxy_env(scratch: Path, drain_s: float) -> dict[str, str]:
    """Ray Serve's high-throughput mode (documented for Ray >= 2.55): HAProxy takes the HTTP port and sends each
    request straight to a replica's own HTTP server, instead of through Serve's Python proxy. Its files go into
    ``scratch`` and its stats and metrics ports are free ones, so that two servers on one machine do not collide;
    a replica that stops drains for ``drain_s`` (Serve's 30 s default suits a cluster's load balancers).
    Every Serve process reads these at start: set before our local Ray starts, its processes inherit them."""
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(scratch / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(scratch / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(scratch),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(scratch / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(drain_s),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(cfg: DictConfig) -> dict[str, Any]:
    check_backend(cfg.backend, cfg.quantize)
    replicas, threads = int(cfg.replicas), int(cfg.threads)
    if replicas < 1 or threads < 1:
        raise ConfigError(f"replicas={replicas}, threads={threads}: each must be at least 1")
    if cfg.ingress not in INGRESS:
        raise ConfigError(f"ingress={cfg.ingress}: choose one of {', '.join(INGRESS)}")
    check_port(str(cfg.host), int(cfg.port))
    model = load_predictor(cfg.ckpt_path, int(cfg.max_batch_size), cfg.backend, cfg.quantize, threads)
    path = str(model.cleanup[0] / "export") if model.cleanup else str(Path(cfg.ckpt_path).resolve())
    options = {k: cfg[k] for k in ("max_batch_size", "batch_wait_s", "max_texts", "max_chars", "threads")}
    ray_cfg = cfg.ray.copy()
    with open_dict(ray_cfg):
        ray_cfg.num_cpus = ray_cfg.num_cpus or max(os.cpu_count() or 1, replicas * threads)
    scratch = Path(tempfile.mkdtemp(prefix="attentune-serve-"))
    if cfg.ingress == "haproxy" and ray_cfg.address in (None, "local"):
        for name, value in haproxy_env(scratch, float(cfg.drain_s)).items():  # user-set variables win
            os.environ.setdefault(name, value)
    stop = threading.Event()
    try:
        with ray_session(ray_cfg):
            for sig in (signal.SIGINT, signal.SIGTERM):  # after Ray's own handlers: a clean shutdown, then exit 0
                signal.signal(sig, lambda *_: stop.set())
            from ray import serve as ray_serve

            from attentune.serving.deployment import PredictorDeployment

            # no access log line per request: at thousands of requests a second it costs more than the model
            quiet = {"enable_access_log": False, "log_level": "WARNING"}
            http = {"host": str(cfg.host), "port": int(cfg.port)}
            # one HTTP entry point, on the node serve.py runs on (the head of a cluster): nodes sharing a host
            # would otherwise all bind the same port
            ray_serve.start(proxy_location="HeadOnly", http_options=http, logging_config=quiet)
            app = PredictorDeployment.options(
                num_replicas=replicas,
                ray_actor_options={"num_cpus": threads},
                max_ongoing_requests=int(cfg.max_ongoing_requests),
            ).bind(path, cfg.backend, cfg.quantize, OmegaConf.to_container(OmegaConf.create(options)))
            start = time.time()
            ray_serve.run(app, name="attentune", route_prefix="/", logging_config=quiet)
            url = f"http://{cfg.host}:{cfg.port}"
            print(
                f"serve: {model.task} model ({cfg.backend}), {replicas} replica(s) ready in "
                f"{time.time() - start:.1f} s: POST {url}/predict, GET {url}/health "
                f"(pid {os.getpid()}; Ctrl-C or SIGTERM stops it)",
                file=sys.stderr,
                flush=True,
            )
            stop.wait()
            ray_serve.shutdown()
    finally:
        model.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"url": f"http://{cfg.host}:{cfg.port}", "replicas": replicas}
