"""``ray.address=...``: a study joins a running two-node Ray cluster (two raylets on this host) and its trials
are placed on both nodes. The nodes are started with ``ray start --block`` and stopped by their PIDs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, TINY

pytestmark = pytest.mark.cluster
RAY = str(Path(sys.executable).parent / "ray")
PORT = 6390  # not Ray's default 6379: never a cluster someone else started here
# `ray start` clusters use token authentication (the token in ~/.ray/auth_token); their clients must too
ENV = {**os.environ, "RAY_AUTH_MODE": "token", "OMP_NUM_THREADS": "1"}


def _node(temp: Path, name: str, workers: tuple[int, int], head: bool) -> subprocess.Popen:
    args = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--node-name={name}", "--num-cpus=1",
            f"--temp-dir={temp / name}", f"--min-worker-port={workers[0]}", f"--max-worker-port={workers[1]}",
            "--dashboard-agent-listen-port=0", "--object-store-memory=200000000", "--disable-usage-stats"]  # fmt: skip
    args += [f"--port={PORT}", "--head", "--include-dashboard=false"] if head else [f"--address=127.0.0.1:{PORT}"]
    log = open(temp / f"{name}.log", "w")  # noqa: SIM115  closed with the process
    return subprocess.Popen(args, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _status() -> subprocess.CompletedProcess:
    return subprocess.run([RAY, "status", f"--address=127.0.0.1:{PORT}"], env=ENV, capture_output=True, text=True)


@pytest.fixture(scope="module")
def cluster():
    temp = Path(tempfile.mkdtemp(prefix="art-"))  # short: Ray's socket paths must fit in 107 bytes
    nodes = [_node(temp, "head", (20000, 20499), head=True)]
    try:
        deadline = time.monotonic() + 90
        while _status().returncode != 0:
            assert time.monotonic() < deadline, "head did not start: " + (temp / "head.log").read_text()[-2000:]
            time.sleep(1)
        nodes.append(_node(temp, "second", (20500, 20999), head=False))
        while "0.0/2.0 CPU" not in (out := _status().stdout):
            assert time.monotonic() < deadline + 60, f"second node did not join: {out}"
            time.sleep(1)
        yield f"127.0.0.1:{PORT}"
    finally:
        for node in reversed(nodes):  # `ray start --block` stops its node's processes when signalled
            node.terminate()
        for node in reversed(nodes):
            try:
                node.wait(timeout=45)  # a node drains for up to 30 s
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pid, signal.SIGKILL)  # whatever is left of its process group
        shutil.rmtree(temp, ignore_errors=True)


def test_a_study_joining_a_two_node_cluster_places_trials_on_both_nodes(cluster, tmp_path):
    args = [sys.executable, "src/tune.py", *TINY, "model=bow", "num_samples=4", "max_concurrent=2",
            "searcher=random", "scheduler=fifo", "evaluate_default=false", "budget=null", "logger=csv",
            "trainer.max_epochs=2", "trainer.limit_train_batches=200", "reuse_actors=false", f"ray.address={cluster}",
            f"hydra.run.dir={tmp_path}"]  # fmt: skip
    proc = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert len(trials) == 4 and (trials["status"] == "TERMINATED").all()
    # one CPU per node: while one trial trains on a node, the next one can only start on the other
    assert trials["node_id"].nunique() == 2, trials[["trial_id", "node_id", "time_total_s"]]


def test_serve_on_a_two_node_cluster_puts_a_replica_on_each_node(cluster, tmp_path):
    # serve.py joins the cluster (ray.address), as tune.py does
    sys.path.insert(0, str(REPO / "scripts" / "bench"))
    from serve_load import free_port

    run = tmp_path / "run"
    train = [sys.executable, "src/train.py", *TINY, "model=bow", "logger=csv", f"hydra.run.dir={run}"]
    assert subprocess.run(train, cwd=REPO, env=ENV, capture_output=True, timeout=300).returncode == 0
    port = free_port()
    args = [sys.executable, "src/serve.py", f"ckpt_path={run}", "replicas=2", f"port={port}", "ingress=proxy",
            f"ray.address={cluster}", f"hydra.run.dir={tmp_path / 'serve'}"]  # fmt: skip
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115  closed with the process
    proc = subprocess.Popen(args, cwd=REPO, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while True:  # ready
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    if json.load(r)["status"] == "ok":
                        break
            time.sleep(0.5)
        # one CPU per node and one per replica: both nodes' CPUs in use means a replica on each (Serve routes to the
        # replica on the entry point's node first, so /health alone would not show the other)
        while "2.0/2.0 CPU" not in (out := _status().stdout):
            assert time.monotonic() < deadline, out
            time.sleep(1)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/predict", data=b'{"texts": ["fine", "awful"]}')
        with urllib.request.urlopen(req, timeout=30) as r:
            assert len(json.load(r)["predictions"]) == 2
    finally:
        proc.terminate()  # SIGTERM to its PID: it shuts Serve down and detaches from the cluster
        assert proc.wait(timeout=120) == 0, (tmp_path / "serve.log").read_text()[-3000:]
    assert _status().returncode == 0  # the cluster itself keeps running
